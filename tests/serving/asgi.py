"""A minimal ASGI client for in-process tests: one request in, (status, headers, body) out."""

import asyncio
import json


async def call(
    app, method, path, body=b"", content_type="application/json", chunks=None, query=b""
):
    """Send one HTTP request through the ASGI app; return (status, headers dict, body bytes).

    ``chunks`` (a list of bytes) sends the body in several ``http.request`` messages.
    """
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    parts = chunks if chunks is not None else [body]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # no more messages: wait like a quiet client

    sent = []

    async def send(message):
        sent.append(message)

    headers = [(b"content-type", content_type.encode())] if content_type else []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)
    start, end = sent
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, end["body"]


async def start(app):
    """Run the app's lifespan startup; return the task that waits for shutdown."""
    queue = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    replies = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan"}, queue.get, replies.put))
    assert (await replies.get())["type"] == "lifespan.startup.complete"
    return queue, replies, task


async def stop(queue, replies, task):
    """Run the lifespan shutdown started by :func:`start`."""
    await queue.put({"type": "lifespan.shutdown"})
    assert (await replies.get())["type"] == "lifespan.shutdown.complete"
    await task

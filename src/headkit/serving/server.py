"""Run the prediction app under uvicorn (``headkit serve``): one process or ``workers`` processes.

The listening socket is bound here, before any worker starts, so a busy port is one clear error.
With ``workers > 1`` uvicorn's supervisor starts that many processes on the shared socket, each
loading the model through :func:`worker_app` (the options travel in an environment variable), and
restarts any that dies. On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets the
requests in flight finish (``graceful_s`` at most), then the app stops its model thread.

Each server process sets Python's GIL switch interval to :data:`SWITCH_INTERVAL_S` (0.5 ms
instead of 5 ms). The model thread gives up the GIL while torch, NumPy or onnxruntime multiply,
and must win it back from the event-loop thread, which holds it while it parses the next
bodies; the default interval left a finished model call waiting up to 5 ms for each hand-back.
Measured with ``benchmarks/serve.py`` (256-row requests, AMD EPYC, 2 cores): 410 → 532
requests/s with the eager torch forward, 559 → 714 with the traced one. Where the C library is
glibc, each process also keeps freed blocks of up to :data:`KEEP_FREED_BYTES` for reuse (glibc
hands a freed block of more than about 1 MB back to the system, and a model call's next
activation of that size then pays a page fault per 4 kB page): a 1,024-row call of the default
network on torch took 5.0–5.4 ms of CPU before, 3.9–4.0 ms after.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from headkit.exceptions import ConfigError
from headkit.serving.options import ServeOptions

SWITCH_INTERVAL_S = 0.0005
KEEP_FREED_BYTES = 64 * 2**20  # glibc's M_TRIM_THRESHOLD; blocks up to a quarter are not mmap'd
RUN_ENV = "HEADKIT_SERVE_RUN"
OPTIONS_ENV = "HEADKIT_SERVE_OPTIONS"


def build_app(run: str | Path, options: ServeOptions) -> Any:
    """Load the run with ``options.engine`` and build its app (threads capped, GIL switch set)."""
    from headkit.serving.app import create_app
    from headkit.serving.model import limit_threads, load_model

    model = load_model(run, options.engine, options.threads)
    limit_threads(options.threads, model.engine)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    _keep_freed_memory(KEEP_FREED_BYTES)
    return create_app(model, options)


def _keep_freed_memory(size: int) -> bool:
    """Have glibc keep up to ``size`` freed bytes for reuse (False where malloc is not glibc's).

    Blocks of up to ``size / 4`` come from the heap instead of their own mapping, and the heap
    is given back to the system only past ``size`` free bytes at its top.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: the allocator keeps its own policy
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, size // 4)) and bool(mallopt(m_trim_threshold, size))


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory), from the parent's environment."""
    return build_app(os.environ[RUN_ENV], ServeOptions.from_json(os.environ[OPTIONS_ENV]))


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise ConfigError(
            f"Cannot listen on {host}:{port} ({error.strerror}); choose another --port."
        ) from None


def run_server(run: str | Path, options: ServeOptions | None = None, **settings: Any) -> None:
    """Load the run and serve it until SIGTERM or Ctrl-C.

    Parameters
    ----------
    run : str or Path
        Run or model directory.
    options : ServeOptions, optional
        Address, engine, workers, limits (defaults: :class:`ServeOptions`'s).
    **settings
        Fields of :class:`ServeOptions` that replace those of ``options``.

    Raises
    ------
    ConfigError, ModelFileError
        The serve extra is missing, the run cannot be loaded, or the port is taken.
    """
    options = replace(options or ServeOptions(), **settings)
    try:
        import uvicorn
    except ImportError:
        raise ConfigError(
            "headkit serve needs the serve extra; install it with pip install 'headkit[serve]'."
        ) from None
    app = build_app(run, options)  # also checks the run before workers start
    sock = _listen(options.host, options.port)
    uvicorn_settings: dict[str, Any] = {
        "http": "httptools",
        "loop": "uvloop" if _has("uvloop") else "asyncio",
        "lifespan": "on",
        "log_level": "warning",
        "access_log": False,  # the app writes JSON lines itself (--access-log)
        "timeout_graceful_shutdown": options.graceful_s,
        "server_header": False,
    }
    shown = f"[{options.host}]" if ":" in options.host else options.host
    where = f"http://{shown}:{sock.getsockname()[1]}"
    print(
        f"headkit serve: {run} ({app.model.engine} engine, {options.workers} worker"
        f"{'s' if options.workers > 1 else ''}) on {where}",
        file=sys.stderr,
        flush=True,
    )
    if options.workers == 1:
        uvicorn.Server(uvicorn.Config(app, **uvicorn_settings)).run(sockets=[sock])
        return
    del app
    from uvicorn.supervisors import Multiprocess

    os.environ[RUN_ENV] = str(run)
    os.environ[OPTIONS_ENV] = options.to_json()
    config = uvicorn.Config(
        "headkit.serving.server:worker_app",
        factory=True,
        workers=options.workers,
        **uvicorn_settings,
    )
    Multiprocess(config, sockets=[sock]).run()


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None

"""Run the prediction app under uvicorn (``headkit serve``)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from headkit.exceptions import ConfigError


def run_server(
    run: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body_bytes: int = 16 * 2**20,
    max_batch_rows: int = 4096,
    threads: int = 1,
    access_log: bool = False,
) -> None:
    """Load the run and serve it until interrupted (Ctrl-C or SIGTERM).

    Parameters
    ----------
    run : str or Path
        Run or model directory.
    host, port : str, int
        Where to listen; port 0 picks a free port (printed on start).
    max_body_bytes, max_batch_rows : int
        See :func:`headkit.serving.create_app`.
    threads : int
        torch threads for the model calls (1 leaves a core to the HTTP loop on small machines).
    access_log : bool
        Log one line per request.
    """
    try:
        import uvicorn
    except ImportError:
        raise ConfigError(
            "headkit serve needs the serve extra; install it with pip install 'headkit[serve]'."
        ) from None
    import torch

    from headkit.estimator.classifier import HeadClassifier
    from headkit.serving.app import create_app

    if threads < 1 or max_batch_rows < 1 or max_body_bytes < 1:
        raise ConfigError("--threads, --max-batch-rows and --max-body-mb must be positive.")
    estimator = HeadClassifier.load(run, device="cpu")
    app = create_app(estimator, max_body_bytes=max_body_bytes, max_batch_rows=max_batch_rows)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
    except OSError as error:
        raise ConfigError(
            f"Cannot listen on {host}:{port} ({error.strerror}); choose another --port."
        ) from None
    bound = sock.getsockname()[1]
    torch.set_num_threads(threads)  # only once the server will run: tests call this in-process
    config = uvicorn.Config(
        app, log_level="warning", access_log=access_log, timeout_graceful_shutdown=5
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"headkit serve: {run} on http://{shown}:{bound}", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[sock])

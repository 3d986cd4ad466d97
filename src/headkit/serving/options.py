"""The server's settings: one frozen dataclass that ``headkit serve``'s flags map onto.

Every limit the server enforces lives here with its default, so the CLI is a thin mapping and the
app, the batcher and the uvicorn runner read the same values.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from headkit.exceptions import ConfigError

ENGINES = ("auto", "numpy", "torch", "onnx")


@dataclass(frozen=True)
class ServeOptions:
    """How ``headkit serve`` runs.

    Attributes
    ----------
    host, port : str, int
        Where to listen; port 0 picks a free port (printed on start).
    engine : {"auto", "numpy", "torch", "onnx"}
        What computes the forward pass. ``"auto"``: the rule ``headkit predict`` follows (NumPy
        for a plain network, torch otherwise), a plain network's large calls on torch (see
        :class:`headkit.serving.model.SplitModel`); ``"onnx"``: onnxruntime on the run exported
        in memory (needs the onnx extra).
    workers : int
        Server processes sharing the listening socket (each loads the model).
    threads : int
        BLAS / torch threads per process for the model calls.
    max_body_bytes : int
        Larger request bodies get 413 without being read further.
    max_batch_rows : int
        Most rows per model call when concurrent requests are batched.
    max_queue_rows : int
        Most rows waiting for the model; a request that would pass it gets 503 with
        ``Retry-After``.
    timeout_s : float
        Longest a request may wait for its answer (queue and model call); past it, 504.
    retry_after_s : int
        The ``Retry-After`` seconds of a 503.
    inline_rows : int
        Model calls of at most this many rows run in the event loop's thread instead of the
        model thread (a thread hand-off can cost more than a small NumPy call).
    access_log : bool
        One JSON line per request on stderr.
    graceful_s : float
        On SIGTERM, how long in-flight requests may take before the process exits anyway.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    engine: str = "auto"
    workers: int = 1
    threads: int = 1
    max_body_bytes: int = 16 * 2**20
    max_batch_rows: int = 4096
    max_queue_rows: int = 65536
    timeout_s: float = 10.0
    retry_after_s: int = 1
    inline_rows: int = 0
    access_log: bool = False
    graceful_s: float = 30.0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}; got {self.engine!r}.")
        positive = ("workers", "threads", "max_body_bytes", "max_batch_rows", "max_queue_rows")
        bad = [name for name in positive if getattr(self, name) < 1]
        bad += [n for n in ("timeout_s", "graceful_s") if not getattr(self, n) > 0]
        if bad or self.retry_after_s < 0:
            names = ", ".join("--" + n.replace("_", "-") for n in bad or ["retry_after_s"])
            raise ConfigError(f"{names} must be positive; give a number above 0.")

    def to_json(self) -> str:
        """The options as JSON (how worker processes receive them)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        """Rebuild options written by :meth:`to_json` (unknown keys are ignored)."""
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

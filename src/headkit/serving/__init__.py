"""Serve a trained classifier over HTTP: a plain ASGI app run by uvicorn.

Needs the serve extra (``pip install 'headkit[serve]'``). ``headkit serve RUN`` runs it;
:func:`create_app` builds the app (over :func:`load_model`) for any ASGI server, and
:class:`ServeOptions` holds every setting.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headkit.serving.app import create_app
    from headkit.serving.model import load_model
    from headkit.serving.options import ServeOptions
    from headkit.serving.server import run_server

__all__ = ["ServeOptions", "create_app", "load_model", "run_server"]
_HOMES = {
    "ServeOptions": "headkit.serving.options",
    "create_app": "headkit.serving.app",
    "load_model": "headkit.serving.model",
    "run_server": "headkit.serving.server",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'headkit.serving' has no attribute {name!r}")

"""Serve a trained classifier over HTTP: an ASGI app (Starlette) run by uvicorn.

Needs the ``serve`` extra (``pip install 'headkit[serve]'``). ``headkit serve RUN`` runs it;
:func:`create_app` builds the app for any ASGI server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headkit.serving.app import create_app
    from headkit.serving.server import run_server

__all__ = ["create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from headkit.serving.app import create_app

        return create_app
    if name == "run_server":
        from headkit.serving.server import run_server

        return run_server
    raise AttributeError(f"module 'headkit.serving' has no attribute {name!r}")

"""The ``headkit`` command line.

``app`` (the typer app and its commands), ``settings`` (flags read from the config
declarations), ``inputs`` (files and data sets in, predictions out) and ``ship`` (``export`` and
``serve``). ``headkit --help`` imports neither torch nor scikit-learn.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``headkit`` command line (the console script's entry point)."""
    from headkit.cli.app import main as run

    run()

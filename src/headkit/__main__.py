"""``python -m headkit`` (and ``torchrun -m headkit``) runs the CLI."""

from headkit.cli import main

main()

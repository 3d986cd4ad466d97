"""``python -m headkit`` (and ``torchrun -m headkit``) runs the CLI."""

from headkit.cli.app import main

main()

"""``headkit list [FAMILY]``: the named techniques, their options and defaults.

The rows are :func:`headkit.catalogue.family_rows`, the same that ``docs/catalogue.md`` is
rendered from; the catalogue (and with it torch) is imported inside the command, so
``headkit --help`` stays light.
"""

from __future__ import annotations

from typing import Annotated

import typer


def _plain(text: str) -> str:
    """Markdown inline code to terminal text."""
    return text.replace("`", "")


def list_command(
    family: Annotated[
        str | None,
        typer.Argument(
            help="A family: activations, dropouts, outputs, heads, losses, residuals, inits, "
            "solvers, augments, presets, datasets, block_criteria (or its singular). "
            "Omit to list the families.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the named techniques of a family with their options and defaults."""
    from rich.console import Console
    from rich.table import Table

    from headkit import catalogue

    console = Console()
    if family is None:
        table = Table(title="Families: headkit list FAMILY", title_justify="left")
        for column in ("family", "entries", "what"):
            table.add_column(column)
        for fam in catalogue.families():
            table.add_row(fam.key, str(len(fam.registry.names())), fam.title)
        console.print(table)
        return
    fam = catalogue.family(family)
    table = Table(
        title=fam.title,
        title_justify="left",
        caption=_plain(catalogue.usage(fam)) or None,
        caption_justify="left",
    )
    for column in ("name", "options (defaults)", *catalogue.extra_columns(fam), "what it is"):
        table.add_column(column)
    for row in catalogue.family_rows(fam):
        table.add_row(row.name, ", ".join(row.options) or "-", *row.extras, _plain(row.summary))
    console.print(table)

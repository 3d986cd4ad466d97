"""How a delimited text file is written: its delimiter, decimal mark and missing-value tokens.

Read from its first :data:`SNIFF_LINES` lines by :mod:`headkit.data.readers` (pandas) and
:mod:`headkit.data.arrow_csv` (pyarrow, for large files) alike.
"""

from __future__ import annotations

import csv
import re
from typing import Any

from headkit.data.column_roles import NA_TOKENS
from headkit.exceptions import DataError

DELIMITERS = (",", ";", "\t", "|")
SNIFF_LINES = 200
_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+$")
_POINT_NUMBER = re.compile(r"^[+-]?\d*\.\d+$")


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter (comma, semicolon, tab, pipe) found as often on most lines as on the header."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ","
    best, best_score = ",", (-1.0, 0)
    for delimiter in DELIMITERS:
        counts = [_count_outside_quotes(line, delimiter) for line in lines]
        if counts[0] == 0:
            continue
        body = counts[1:] or counts
        score = (sum(c == counts[0] for c in body) / len(body), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def sniff_decimal(lines: list[str], delimiter: str, where: str) -> str:
    """``","`` when number cells use a decimal comma (and none a decimal point), else ``"."``."""
    if delimiter == ",":
        return "."
    commas = points = 0
    for row in csv.reader(lines[1:], delimiter=delimiter):
        for cell in row:
            cell = cell.strip()
            commas += bool(_COMMA_NUMBER.match(cell))
            points += bool(_POINT_NUMBER.match(cell))
    if commas and points:
        raise DataError(
            f"{where} has numbers with a decimal comma and numbers with a decimal point; say "
            "which is the decimal mark with --decimal , (or --decimal .)."
        )
    return "," if commas else "."


def na_tokens(extra: Any = ()) -> list[str]:
    """Missing-value tokens for a reader: the defaults and ``extra``, in lower, upper and title case."""
    tokens = [*NA_TOKENS, *(str(t).strip() for t in ([extra] if isinstance(extra, str) else extra))]
    return sorted({v for t in tokens for v in (t, t.lower(), t.upper(), t.title())})


def check_decimal(decimal: str | None) -> None:
    """Fail unless ``decimal`` is ``None``, ``"."`` or ``","``."""
    if decimal not in (None, ".", ","):
        raise DataError(f"--decimal must be '.' or ','; got {decimal!r}.")

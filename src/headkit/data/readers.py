"""Read table files as they come: sniffed delimiters, decimal commas, encodings, compression.

Kinds: delimited text (``.csv``, ``.tsv``, ``.txt``: comma, semicolon, tab or pipe, sniffed),
``.parquet``/``.pq``, ``.feather``/``.arrow`` (Arrow IPC), ``.jsonl``/``.ndjson`` (JSON Lines) and
``.xlsx`` (the ``excel`` extra), each optionally compressed as ``.gz``, ``.bz2``, ``.xz`` or
``.zst``, or packed alone in a ``.zip``. Text is UTF-8 (a byte-order mark is skipped); a file
that is not falls back to cp1252 (then Latin-1) with a :class:`DataWarning`. Line endings may be
CRLF. Missing-value tokens (:data:`headkit.data.column_roles.NA_TOKENS` and the user's) are read
as gaps. Large uncompressed CSV files go through :mod:`headkit.data.arrow_csv` (pyarrow, block by
block, to float32 columns).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

from headkit.data.column_roles import DataWarning
from headkit.data.sniffing import (
    SNIFF_LINES,
    check_decimal,
    na_tokens,
    sniff_decimal,
    sniff_delimiter,
)
from headkit.exceptions import DataError

TEXT_KINDS = (".csv", ".tsv", ".txt", ".tab")
FRAME_KINDS = (".parquet", ".pq", ".feather", ".arrow", ".ipc", ".jsonl", ".ndjson", ".xlsx")
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")
BIG_FILE_BYTES = 64 * 2**20  # plain CSV files larger than this are read by pyarrow


def table_kind(name: str) -> tuple[str, str | None]:
    """(format suffix, compression suffix or None) of a file name, e.g. ``("csv.gz") → (.csv, .gz)``."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] in (*COMPRESSIONS, ".zip"):
        return (suffixes[-2] if len(suffixes) > 1 else ""), suffixes[-1]
    return (suffixes[-1] if suffixes else ""), None


def is_table_file(name: str) -> bool:
    """True when ``name`` has a table suffix this module reads (possibly compressed or zipped)."""
    kind, packing = table_kind(name)
    return kind in (*TEXT_KINDS, *FRAME_KINDS) or packing == ".zip"


def _zip_member(path: Path) -> tuple[str, bytes]:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        names = [
            n for n in archive.namelist()
            if not n.endswith("/") and not n.startswith("__MACOSX") and is_table_file(n)
        ]  # fmt: skip
        if len(names) != 1:
            shown = ", ".join(names[:5]) or "none"
            raise DataError(
                f"{path} holds {len(names)} tables ({shown}); give a .zip with exactly one table."
            )
        return names[0], archive.read(names[0])


def _decompressed(path: Path, compression: str | None) -> bytes:
    if compression is None:
        return path.read_bytes()
    if compression == ".zst":
        import pyarrow as pa

        with pa.input_stream(str(path), compression="zstd") as stream:
            return stream.read()
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[compression]
    with opener(path, "rb") as handle:
        return handle.read()


def decode(data: bytes, where: str) -> str:
    """Text of ``data``: UTF-8 (BOM skipped), else cp1252, else Latin-1, with a warning."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        warnings.warn(
            f"{where} is not valid UTF-8; read it as {encoding} (save it as UTF-8 to be sure).",
            DataWarning,
            stacklevel=4,
        )
        return text
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _read_text(text: str, kind: str, where: str, na_values: Any, decimal: str | None) -> Any:
    import pandas as pd

    head = text[: 2**20].splitlines()[:SNIFF_LINES]
    delimiter = "\t" if kind in (".tsv", ".tab") else sniff_delimiter(head)
    decimal = decimal or sniff_decimal(head, delimiter, where)
    if decimal == delimiter:
        raise DataError(f"{where}: the decimal mark and the delimiter are both {decimal!r}.")
    return pd.read_csv(
        io.StringIO(text), sep=delimiter, decimal=decimal, na_values=na_tokens(na_values),
        keep_default_na=True, skipinitialspace=True,
        thousands="." if decimal == "," else None,
    )  # fmt: skip


def _read_packed(kind: str, data: Any) -> Any:
    import pandas as pd

    if kind in (".parquet", ".pq"):
        return pd.read_parquet(data)
    if kind in (".jsonl", ".ndjson"):
        return pd.read_json(data, lines=True, dtype=False)
    if kind == ".xlsx":
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise DataError(
                "Reading .xlsx files needs the 'excel' extra; install it with "
                "pip install 'headkit[excel]' (or save the sheet as .csv)."
            ) from None
        return pd.read_excel(data, engine="openpyxl")
    import pyarrow as pa
    import pyarrow.ipc as ipc

    source = pa.BufferReader(data.getvalue()) if isinstance(data, io.BytesIO) else str(data)
    try:
        return ipc.open_file(source).read_pandas()
    except pa.ArrowInvalid:  # an Arrow stream rather than a file
        source = pa.BufferReader(data.getvalue()) if isinstance(data, io.BytesIO) else str(data)
        return ipc.open_stream(source).read_pandas()


def read_frame(path: Path, na_values: Any = (), decimal: str | None = None) -> Any:
    """Read any supported table file into a DataFrame (``attrs["na_values"]`` = the user's tokens).

    Raises
    ------
    DataError
        Unsupported kind, a zip without exactly one table, an unreadable file.
    """
    check_decimal(decimal)
    kind, packing = table_kind(path.name)
    where = str(path)
    try:
        if packing == ".zip":
            member, data = _zip_member(path)
            kind, packing = table_kind(member)
            where = f"{path} ({member})"
            if packing is not None:
                raise DataError(f"{where} is compressed inside the zip; store it uncompressed.")
        elif kind in TEXT_KINDS and packing is None and path.stat().st_size > BIG_FILE_BYTES:
            from headkit.data.arrow_csv import read_big_csv

            frame = read_big_csv(path, na_values, decimal)
            frame.attrs["na_values"] = list(na_values or ())
            return frame
        elif kind in (*TEXT_KINDS, *FRAME_KINDS):
            data = _decompressed(path, packing) if (packing or kind in TEXT_KINDS) else path
        else:
            raise DataError(
                f"Unsupported file type {''.join(Path(path.name).suffixes[-2:]) or '(none)'} for "
                f"{path}; use .csv, .tsv, .parquet, .feather, .arrow, .jsonl, .xlsx, .npy or "
                ".npz (optionally .gz, .bz2, .xz, .zst or in a .zip)."
            )
        if kind in TEXT_KINDS:
            frame = _read_text(decode(data, where), kind, where, na_values, decimal)
        else:
            frame = _read_packed(kind, io.BytesIO(data) if isinstance(data, bytes) else data)
    except DataError:
        raise
    except Exception as error:  # pandas/pyarrow/zipfile raise many types for unreadable files
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"Cannot read {where}: {message}. Check that it is a valid {kind or 'table'} file."
        ) from None
    frame.attrs["na_values"] = list([na_values] if isinstance(na_values, str) else na_values or ())
    return frame

"""Read a large CSV file block by block with pyarrow, keeping numbers as float32 columns.

``pandas.read_csv`` holds the parsed table as float64 and Python string objects, and the encoder
then makes float64 blocks before the float32 matrix: about three copies of the data at once.
Here each pyarrow block is turned at once into float32 columns (numbers) and dictionary codes
(text, a :class:`pandas.Categorical`), and the block is dropped; columns are joined one at a
time. The frame is then about the size of the float32 matrix it becomes, and
:meth:`headkit.data.preprocessing.TablePreprocessor.transform` writes that matrix column by
column, so loading peaks near twice the final matrix.

Only numeric and text columns are kept this way; when a later block holds text in a column the
first block read as numbers, the file is read again with pandas (slower, more memory, the same
result).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from headkit.data.column_roles import DataWarning

BLOCK_BYTES = 32 * 2**20


def _head_lines(path: Path, encoding: str) -> list[str]:
    with open(path, "rb") as handle:
        head = handle.read(2**20)
    from headkit.data.readers import SNIFF_LINES

    text = head.decode(encoding, errors="replace")
    return text.splitlines()[:SNIFF_LINES][:-1] or text.splitlines()


def _encoding(path: Path) -> str:
    """``utf-8`` when the first MiB decodes as UTF-8, else ``cp1252`` (with a warning)."""
    with open(path, "rb") as handle:
        head = handle.read(2**20)
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.start > len(head) - 4:  # a character cut by the end of the sample
            return "utf-8"
    warnings.warn(
        f"{path} is not valid UTF-8; read it as cp1252 (save it as UTF-8 to be sure).",
        DataWarning,
        stacklevel=4,
    )
    return "cp1252"


def _column(chunks: list[Any], name: str) -> Any:
    """Join one column's chunks (float32 arrays or categoricals), freeing them as it goes."""
    import pandas as pd

    if all(isinstance(c, np.ndarray) for c in chunks):
        out = np.empty(sum(len(c) for c in chunks), dtype=np.float32)
        start = 0
        while chunks:
            piece = chunks.pop(0)
            out[start : start + len(piece)] = piece
            start += len(piece)
        return pd.Series(out, name=name, copy=False)
    parts = [c if not isinstance(c, np.ndarray) else pd.Categorical(c.astype(str)) for c in chunks]
    chunks.clear()
    return pd.Series(pd.api.types.union_categoricals(parts, ignore_order=True), name=name)


def _convert(array: Any) -> Any:
    """One block's column: float32 (NaN for nulls) or a Categorical of its text."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return pc.cast(array, pa.float32()).to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(array.type):
        return pd.Categorical(pc.cast(array, pa.string()).to_pandas())
    return pc.cast(array, pa.string()).dictionary_encode().to_pandas()


def read_big_csv(path: Path, na_values: Any, decimal: str | None) -> Any:
    """Read a delimited text file into a DataFrame of float32 and categorical columns.

    Parameters
    ----------
    path : Path
        An uncompressed ``.csv``/``.tsv``/``.txt``.
    na_values : sequence of str
        The user's missing-value tokens (added to the defaults).
    decimal : {".", ","} or None
        The decimal mark; sniffed when ``None``.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from headkit.data.readers import na_tokens, sniff_decimal, sniff_delimiter

    encoding = _encoding(path)
    lines = _head_lines(path, encoding)
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else sniff_delimiter(lines)
    decimal = decimal or sniff_decimal(lines, delimiter, str(path))
    reader = pacsv.open_csv(
        str(path),
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, encoding=encoding),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(
            null_values=na_tokens(na_values), strings_can_be_null=True, decimal_point=decimal
        ),
    )
    names = reader.schema.names
    chunks: dict[str, list[Any]] = {name: [] for name in names}
    try:
        for batch in reader:
            for name, array in zip(names, batch.columns, strict=True):
                chunks[name].append(_convert(array))
            del batch
    except pa.ArrowInvalid:  # a later block disagrees with the first one's column types
        chunks.clear()
        return pd.read_csv(
            path, sep=delimiter, decimal=decimal, encoding=encoding,
            na_values=na_tokens(na_values), keep_default_na=True,
        )  # fmt: skip
    columns = {name: _column(chunks.pop(name), name) for name in names}
    return pd.DataFrame(columns, copy=False)

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

BLOCK_BYTES = 2**20  # pyarrow reads ~40 blocks ahead: 1 MiB blocks keep that near 40 MB


def _head_lines(path: Path, encoding: str) -> list[str]:
    with open(path, "rb") as handle:
        head = handle.read(2**20)
    from headkit.data.sniffing import SNIFF_LINES

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


class _Growing:
    """A float32 column filled block by block, grown by a quarter when the estimate was short."""

    def __init__(self, capacity: int) -> None:
        self.values = np.empty(capacity, dtype=np.float32)
        self.size = 0

    def append(self, block: np.ndarray) -> None:
        end = self.size + len(block)
        if end > len(self.values):
            self.values = np.resize(self.values, max(end, len(self.values) * 5 // 4))
        self.values[self.size : end] = block
        self.size = end

    def series(self, name: str) -> Any:
        import pandas as pd

        return pd.Series(self.values[: self.size], name=name, copy=False)


def _column(chunks: Any, name: str) -> Any:
    """The finished column: float32 values, or the union of the blocks' categoricals."""
    import pandas as pd

    if isinstance(chunks, _Growing):
        return chunks.series(name)
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

    from headkit.data.sniffing import na_tokens, sniff_decimal, sniff_delimiter

    encoding = _encoding(path)
    lines = _head_lines(path, encoding)
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else sniff_delimiter(lines)
    decimal = decimal or sniff_decimal(lines, delimiter, str(path))
    options = {
        "read_options": pacsv.ReadOptions(block_size=BLOCK_BYTES, encoding=encoding),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter),
    }
    convert = {"null_values": na_tokens(na_values), "strings_can_be_null": True,
               "decimal_point": decimal}  # fmt: skip
    reader = pacsv.open_csv(str(path), **options, convert_options=pacsv.ConvertOptions(**convert))
    integers = {f.name: pa.float64() for f in reader.schema if pa.types.is_integer(f.type)}
    if integers:  # read integer columns as floats, so a later "2.5" does not stop the reader
        reader = pacsv.open_csv(
            str(path),
            **options,
            convert_options=pacsv.ConvertOptions(**convert, column_types=integers),
        )
    try:
        frame = _read_blocks(reader, path.stat().st_size)
    except pa.ArrowInvalid:  # a later block disagrees with the first one's column types
        return pd.read_csv(
            path, sep=delimiter, decimal=decimal, encoding=encoding,
            na_values=na_tokens(na_values), keep_default_na=True,
        )  # fmt: skip
    finally:
        pa.default_memory_pool().release_unused()
    return frame


def _read_blocks(reader: Any, file_bytes: int) -> Any:
    """Every block of ``reader`` into one DataFrame of float32 and categorical columns."""
    import pandas as pd
    import pyarrow as pa

    names = reader.schema.names
    columns: dict[str, Any] = {}
    for batch in reader:
        if not columns:  # size the float32 columns from the first block's rows per byte
            estimate = int(file_bytes * batch.num_rows / BLOCK_BYTES * 1.05) + 1024
            for field in reader.schema:
                numeric = pa.types.is_floating(field.type) or pa.types.is_integer(field.type)
                columns[field.name] = _Growing(estimate) if numeric else []
        for name, array in zip(names, batch.columns, strict=True):
            columns[name].append(_convert(array))
        del batch
    if not columns:
        return pd.DataFrame({name: [] for name in names})
    return pd.DataFrame({name: _column(columns.pop(name), name) for name in names}, copy=False)

"""Files as they come: every kind headkit.data.readers reads, written by the tests themselves."""

import bz2
import gzip
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest

from headkit.data import load_table
from headkit.data.column_roles import DataWarning
from headkit.data.readers import read_frame
from headkit.data.sniffing import sniff_delimiter
from headkit.exceptions import DataError


@pytest.fixture
def frame(rng):
    n = 40
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n).round(2),
            "weight": rng.normal(70, 5, n).round(2),
            "city": rng.choice(["Zürich", "Köln", "Paris"], n),
            "label": rng.choice(["a", "b"], n),
        }
    )


def _csv(frame, sep=",", decimal=".", line="\n"):
    return frame.to_csv(index=False, sep=sep, decimal=decimal, lineterminator=line)


def _check(read, frame):
    pd.testing.assert_frame_equal(
        read.reset_index(drop=True), frame, check_dtype=False, check_exact=False, atol=1e-6
    )


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path, frame, sep):
    path = tmp_path / "t.csv"
    path.write_text(_csv(frame, sep), encoding="utf-8")
    _check(read_frame(path), frame)


def test_semicolon_file_with_decimal_comma_and_crlf(tmp_path, frame):
    path = tmp_path / "european.csv"
    path.write_bytes(_csv(frame, ";", ",", "\r\n").encode("utf-8"))
    _check(read_frame(path), frame)
    table = load_table(path, "label")
    assert list(table.X.columns) == ["height", "weight", "city"]


def test_given_decimal_mark_and_an_ambiguous_file(tmp_path, frame):
    path = tmp_path / "mixed.csv"
    text = _csv(frame, ";", ",") + "1.5;2,5;Paris;a\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="--decimal ,"):
        read_frame(path)
    assert read_frame(path, decimal=",")["height"].dtype.kind == "f"
    with pytest.raises(DataError, match="--decimal must be"):
        read_frame(path, decimal=":")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "latin-1"])
def test_encodings(tmp_path, frame, encoding):
    path = tmp_path / "enc.csv"
    path.write_bytes(_csv(frame).encode(encoding))
    if encoding == "utf-8-sig":
        read = read_frame(path)  # the BOM is not part of the first column's name
    else:
        with pytest.warns(DataWarning, match="not valid UTF-8; read it as cp1252"):
            read = read_frame(path)
    _check(read, frame)


@pytest.mark.parametrize(
    ("suffix", "opener"),
    [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open), (".zst", None)],
)
def test_compressed_text(tmp_path, frame, suffix, opener):
    path = tmp_path / f"t.csv{suffix}"
    data = _csv(frame, ";").encode("utf-8")
    if opener is None:
        import pyarrow as pa

        with pa.output_stream(str(path), compression="zstd") as out:
            out.write(data)
    else:
        with opener(path, "wb") as out:
            out.write(data)
    _check(read_frame(path), frame)


def test_zip_with_one_table_and_with_two(tmp_path, frame):
    path = tmp_path / "one.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/t.csv", _csv(frame))
        archive.writestr("README.txt.md", "not a table")
    _check(read_frame(path), frame)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", _csv(frame))
        archive.writestr("b.jsonl", frame.to_json(orient="records", lines=True))
    with pytest.raises(DataError, match="holds 2 tables"):
        read_frame(two)


def test_jsonl_feather_arrow_parquet(tmp_path, frame):
    (tmp_path / "t.jsonl").write_text(frame.to_json(orient="records", lines=True))
    frame.to_feather(tmp_path / "t.feather")
    frame.to_parquet(tmp_path / "t.parquet")
    import pyarrow as pa
    import pyarrow.ipc as ipc

    table = pa.Table.from_pandas(frame, preserve_index=False)
    with ipc.new_stream(str(tmp_path / "t.arrow"), table.schema) as out:
        out.write_table(table)
    for name in ("t.jsonl", "t.feather", "t.parquet", "t.arrow"):
        _check(read_frame(tmp_path / name), frame)


def test_xlsx_and_the_missing_extra(tmp_path, frame, monkeypatch):
    pytest.importorskip("openpyxl")
    path = tmp_path / "t.xlsx"
    frame.to_excel(path, index=False)
    _check(read_frame(path), frame)
    import builtins

    real_import = builtins.__import__

    def no_openpyxl(name, *args, **kwargs):
        if name == "openpyxl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    with pytest.raises(DataError, match=r"needs the 'excel' extra; install it with pip"):
        read_frame(path)


def test_missing_tokens_and_user_tokens_are_gaps(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("x,y\n1,a\n?,b\n-,c\nN/A,d\nnull,e\nNone,f\n,g\nunknown,h\n3,i\n")
    x = read_frame(path, na_values=["unknown"])["x"]
    assert x.dtype.kind == "f"
    np.testing.assert_array_equal(x.isna().to_numpy(), [0, 1, 1, 1, 1, 1, 1, 1, 0])
    assert read_frame(path, na_values=["unknown"]).attrs["na_values"] == ["unknown"]


def test_unsupported_and_unreadable_files_are_one_sentence(tmp_path):
    (tmp_path / "t.docx").write_text("x")
    with pytest.raises(DataError, match="Unsupported file type .docx"):
        read_frame(tmp_path / "t.docx")
    (tmp_path / "t.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="Cannot read .*t.csv.gz"):
        read_frame(tmp_path / "t.csv.gz")


def test_sniffer_ignores_delimiters_inside_quotes():
    lines = ["a;b;c", '"x, y";1;2', '"p, q";3;4']
    assert sniff_delimiter(lines) == ";"
    assert sniff_delimiter(["a,b", "1,2"]) == ","


def test_big_csv_goes_through_pyarrow_as_float32_and_categories(tmp_path, frame, monkeypatch):
    import headkit.data.readers as readers

    monkeypatch.setattr(readers, "BIG_FILE_BYTES", 0)
    monkeypatch.setattr("headkit.data.arrow_csv.BLOCK_BYTES", 256)  # several blocks
    big = pd.concat([frame] * 5, ignore_index=True)
    big.loc[3, "height"] = np.nan
    path = tmp_path / "big.csv"
    path.write_text(_csv(big, ";", ",").replace(";;", ";?;"))
    read = read_frame(path)
    assert read["height"].dtype == np.float32
    assert isinstance(read["city"].dtype, pd.CategoricalDtype)
    _check(read.astype({"city": object, "label": object}), big)

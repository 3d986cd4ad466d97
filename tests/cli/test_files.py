"""Files from the wild through the CLI: roles in `info`, the same readers everywhere, empty rows."""

import gzip
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit.cli.app import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})  # rows unwrapped


def messy(n=400, seed=0):
    """Heights with `?`, a stray word and `unknown`; IDs, yes/no, day-first dates, a constant."""
    rng = np.random.default_rng(seed)
    height = rng.normal(170, 10, n)
    frame = pd.DataFrame(
        {
            "order_id": [f"ORD-{i:06d}" for i in rng.permutation(n) + 1000 * seed],
            "height": [f"{v:.1f}" for v in height],
            "weight": rng.normal(70, 8, n).round(1),
            "city": rng.choice(["Zürich", "Köln", "Málaga"], n),
            "member": rng.choice(["yes", "no"], n),
            "signup": (
                pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
            ).strftime("%d/%m/%Y"),
            "country": "CH",
            "label": np.where(height + rng.normal(0, 4, n) > 170, "tall", "short"),
        }
    )
    frame.loc[rng.choice(n, n // 20, replace=False), "height"] = "?"
    frame.loc[rng.choice(n, n // 80, replace=False), "height"] = "unknown"
    frame.loc[min(5, n - 1), "height"] = "hello"
    return frame


def write_european(frame, path):
    """Semicolons, decimal commas, CRLF, cp1252, gzip: what a European spreadsheet export gives."""
    text = frame.to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n")
    text = text.replace(".", ",")  # the heights are text: give them decimal commas too
    with gzip.open(path, "wb") as out:
        out.write(text.encode("cp1252"))


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messy")
    write_european(messy(), folder / "train.csv.gz")
    result = invoke(
        "train", "--data", folder / "train.csv.gz", "--target", "label", "--na-values", "unknown",
        "--out", folder / "run", "--epochs", "20", "--hidden-sizes", "16", "--quiet",
        "--no-calibrate",  # every row trains: the path these 20 epochs were sized for
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder, result.output


def test_training_reports_the_stray_word_and_the_fallback_encoding(messy_run):
    _, output = messy_run
    text = " ".join(output.split())
    assert "not valid UTF-8; read it as cp1252" in text
    assert "Column 'height':" in text and "'hello'" in text


def test_info_shows_one_role_per_input_column_and_nothing_hashed(messy_run):
    folder, _ = messy_run
    result = invoke("info", folder / "run")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "column order_id │ identifier, ignored" in text
    assert "column height │ numeric + missing flag — numbers with a decimal comma" in text
    assert "column weight │ numeric — numbers" in text
    assert "column city │ one-hot (3 + unknown)" in text
    assert "column member │ boolean — no/yes text" in text
    assert "column signup │ date → year, month, day, weekday, days" in text
    assert "(%d/%m/%Y)" in text
    assert "column country │ constant, dropped — always 'CH'" in text
    assert "hashed" not in text
    state = json.loads((folder / "run" / "preprocessing.json").read_text())
    assert "unknown" in state["na_values"]


@pytest.mark.parametrize("kind", [".csv.xz", ".jsonl", ".feather", ".zip", ".tsv"])
def test_evaluate_reads_every_kind(messy_run, kind):
    folder, _ = messy_run
    frame = messy(200, seed=1)
    path = folder / f"eval{kind}"
    if kind == ".csv.xz":
        frame.to_csv(path, index=False, compression="xz")
    elif kind == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif kind == ".feather":
        frame.to_feather(path)
    elif kind == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("export/eval.csv", frame.to_csv(index=False, sep="|"))
    result = invoke("evaluate", folder / "run", path, "--json", "--na-values", "unknown")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output[result.output.index("{") :])
    assert metrics["n_samples"] == 200 and metrics["accuracy"] > 0.7


def test_predict_flags_empty_rows_and_keeps_the_id_column(messy_run):
    folder, _ = messy_run
    new = messy(6, seed=2).drop(columns="label")
    new.loc[1, ["height", "weight", "city", "member", "signup", "country"]] = [
        "?", None, "Atlantis", "", "NA", None,
    ]  # fmt: skip
    new.to_csv(folder / "new.csv", index=False)
    out = folder / "predictions.csv"
    result = invoke("predict", folder / "run", folder / "new.csv", "--id-column", "order_id",
                    "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 row(s) have every cell empty or unknown" in " ".join(result.output.split())
    predictions = pd.read_csv(out)
    assert predictions["order_id"].tolist() == new["order_id"].tolist()
    assert predictions["empty_row"].tolist() == [0, 1, 0, 0, 0, 0]


def test_an_ambiguous_decimal_mark_is_one_line_suggesting_the_flag(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("a;b;label\n1,5;2.5;x\n2,5;3.5;y\n" * 10)
    result = invoke("train", "--data", path, "--target", "label", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "--decimal ," in result.output and len(result.output.strip().splitlines()) == 1
    result = invoke("train", "--data", path, "--target", "label", "--decimal", ",",
                    "--out", tmp_path / "r", "--epochs", "2", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_xlsx_without_the_extra_is_one_line_naming_it(tmp_path, monkeypatch):
    import builtins

    path = tmp_path / "t.xlsx"
    path.write_bytes(b"PK")  # never opened: the extra is checked first
    real_import = builtins.__import__

    def no_openpyxl(name, *args, **kwargs):
        if name == "openpyxl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    result = invoke("train", "--data", path, "--target", "label", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "headkit[excel]" in result.output and len(result.output.strip().splitlines()) == 1

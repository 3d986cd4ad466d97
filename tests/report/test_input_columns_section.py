"""The report's "Input columns" section (catalogue J13)."""

import re

from headkit import HeadClassifier
from headkit.data import load_dataset
from headkit.report.html import write_report


def test_report_ranks_the_input_columns(tmp_path):
    d = load_dataset("digits")
    model = HeadClassifier(hidden_sizes=(8,), epochs=2, random_state=0).fit(d.X_train, d.y_train)
    model.save(tmp_path / "run")
    page = write_report(tmp_path / "run", d.X_test, d.y_test, out_dir=tmp_path / "r").read_text()
    assert ">Input columns</h2>" in page
    section = page.split(">Input columns</h2>")[1].split("<h2")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", section)
    assert len(rows) == 25
    importances = [float(v) for _, v in rows]
    assert importances == sorted(importances, reverse=True) and importances[0] > 0

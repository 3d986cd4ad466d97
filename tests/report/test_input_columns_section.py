"""The report's "Input columns" section (catalogue J13)."""

import re


def test_report_ranks_the_input_columns(report_run):
    page = report_run.report.read_text()
    assert "<h2>Input columns</h2>" in page
    section = page.split("<h2>Input columns</h2>")[1].split("<h2>")[0]
    names = re.findall(r"<tr><td>(px\d+)</td>", section)
    assert 1 <= len(names) <= 25 and set(names) <= set(report_run.features)

"""The report's inflection-layer lines (catalogue J3)."""


def test_report_names_the_inflection_layers_and_their_history(report_run):
    page = report_run.report.read_text()
    assert "Inflection layers:" in page and "output entropy / log width" in page
    train_page = report_run.train_report.read_text()
    assert "Tracked epochs with an inflection block:" in train_page

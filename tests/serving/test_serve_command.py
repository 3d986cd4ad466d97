import socket

import numpy as np
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app

runner = CliRunner()


def test_a_missing_run_is_one_line_and_exit_status_2(tmp_path):
    result = runner.invoke(app, ["serve", str(tmp_path / "nowhere"), "--port", "0"])
    assert result.exit_code == 2
    assert "No model at" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_busy_port_is_one_line_and_exit_status_2(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    HeadClassifier(hidden_sizes=(4,), epochs=1).fit(X, (X[:, 0] > 0).astype(int)).save(
        tmp_path / "run"
    )
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", str(tmp_path / "run"), "--port", str(port)])
    assert result.exit_code == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output

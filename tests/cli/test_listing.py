"""``headkit list [FAMILY]``: the catalogue's rows on the terminal."""

from typer.testing import CliRunner

from headkit.cli.app import app
from headkit.nn import ACTIVATIONS, HEADS

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["list", *args], env={"COLUMNS": "240"})


def test_list_without_a_family_names_every_family():
    from headkit.catalogue import families

    result = _run()
    assert result.exit_code == 0, result.output
    for fam in families():
        assert fam.key in result.output
        assert f" {len(fam.registry.names())} " in result.output


def test_list_a_family_prints_every_name_with_its_declared_defaults():
    result = _run("heads")
    assert result.exit_code == 0, result.output
    for name in HEADS.names():
        assert name in result.output
    assert "s=30, m=0.2, easy_margin=false" in result.output  # arcface, as declared
    assert "--head" in result.output and "default linear" in result.output


def test_list_accepts_a_singular_and_shows_declared_columns():
    result = _run("activation")
    assert result.exit_code == 0, result.output
    assert "zero-centred" in result.output
    assert all(name in result.output for name in ACTIVATIONS.names())


def test_an_unknown_family_is_one_line_and_exit_2():
    result = _run("hedas")
    assert result.exit_code == 2
    assert "Unknown family 'hedas'" in result.output and "Did you mean 'heads'?" in result.output

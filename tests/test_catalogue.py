"""The generated catalogue (docs/catalogue.md): up to date with the registries, complete, and
rendered from each entry's declaration."""

import re
from pathlib import Path

import pytest

from headkit import catalogue
from headkit.exceptions import ConfigError
from headkit.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "catalogue.md"


@pytest.fixture(scope="module")
def rendered():
    return catalogue.render()


def test_committed_catalogue_is_up_to_date(rendered):
    assert DOC.exists(), "docs/catalogue.md is missing; run `python -m headkit.catalogue --write`."
    assert DOC.read_text(encoding="utf-8") == rendered, (
        "docs/catalogue.md is stale: a registry entry, summary, option or default changed. "
        "Run `python -m headkit.catalogue --write` and commit the file."
    )


def _registries_in_source():
    """Every `NAME = Registry("family")` in src/, found by reading the files (not the module)."""
    found = {}
    for path in (ROOT / "src" / "headkit").rglob("*.py"):
        for name, family in re.findall(
            r'^([A-Z][A-Z0-9_]*) = Registry\(\s*"([^"]+)"', path.read_text(encoding="utf-8"), re.M
        ):
            found[name] = family
    return found


def test_every_registry_in_the_source_is_a_family_with_every_name(rendered):
    in_source = _registries_in_source()
    assert len(in_source) >= 12  # activations … block criteria, as of this test
    families = {fam.key: fam for fam in catalogue.families()}
    assert set(families) == {name.lower() for name in in_source}
    for name, family_text in in_source.items():
        fam = families[name.lower()]
        assert fam.registry.family == family_text
        assert f"\n## {fam.title}\n" in rendered
        for entry in fam.registry.names():
            assert f"| `{entry}` |" in rendered, (name, entry)


def _section(rendered, title):
    return rendered.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_known_defaults_are_written_as_declared(rendered):
    # Independent reference: defaults as the README and the papers' settings state them.
    dropouts = _section(rendered, "Dropout kinds")
    # Prefixes: other options may be added after these without changing the declared defaults.
    assert "| `multisample` | `k=4`, `p=0.3`" in dropouts
    assert "default `0.3`" in dropouts
    heads = _section(rendered, "Heads")
    assert "| `arcface` | `s=30`, `m=0.2`, `easy_margin=false`" in heads
    assert "in_features" not in heads and "n_classes" not in heads  # filled by the caller
    losses = _section(rendered, "Losses")
    assert "| `label_smoothing` | `epsilon=0.1`" in losses
    assert "network=" not in losses and "output=" not in losses
    assert "| `relu` | — | 0 to ∞ | yes | no | no |" in _section(rendered, "Activations")


class _Toy:
    """A toy technique: ``x | y`` literals become markdown.

    More text that is not the summary.
    """

    def __init__(
        self,
        n_classes: int,
        width: int = 8,
        rate: float = 0.25,
        on: bool = True,
        cap: float | None = None,
    ) -> None:
        pass


def test_a_family_is_rendered_from_its_declarations():
    registry = Registry("toy")
    registry.register("toy")(_Toy)
    registry.register("plain", "Nothing to set.")(lambda: None)
    fam = catalogue.Family(
        "toys", registry, "tests.TOYS", catalogue.Meta("Toys", None, ("n_classes",))
    )
    text = catalogue.render_family(fam)
    assert text.splitlines()[0] == "## Toys"
    assert "| `plain` | — | Nothing to set. |" in text
    assert (
        "| `toy` | `width=8`, `rate=0.25`, `on=true`, `cap=None (float)` | "
        "A toy technique: `x \\| y` literals become markdown. |"
    ) in text
    rows = catalogue.family_rows(fam)
    assert [row.name for row in rows] == ["plain", "toy"]
    assert rows[1].options == ("width=8", "rate=0.25", "on=true", "cap=None (float)")


def test_family_lookup_by_key_singular_or_family_name_and_a_suggestion():
    assert catalogue.family("heads").key == "heads"
    assert catalogue.family("head").key == "heads"
    assert catalogue.family("dropout kind").key == "dropouts"
    assert catalogue.family("block-criteria").key == "block_criteria"
    names = {row.name for row in catalogue.family_rows("dropouts")}
    from headkit.nn import DROPOUTS

    assert names == set(DROPOUTS.names())
    with pytest.raises(ConfigError, match="Unknown family 'hedas'.*Did you mean 'heads'"):
        catalogue.family("hedas")


def test_write_then_check(tmp_path, capsys, rendered):
    path = tmp_path / "catalogue.md"
    assert catalogue.main(["--check", str(path)]) == 1  # missing counts as stale
    assert catalogue.main(["--write", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == rendered
    assert catalogue.main(["--check", str(path)]) == 0
    path.write_text(rendered.replace("`k=4`", "`k=5`"), encoding="utf-8")
    assert catalogue.main(["--check", str(path)]) == 1
    assert "stale" in capsys.readouterr().out

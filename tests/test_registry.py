import pytest

from headkit.exceptions import ConfigError
from headkit.registry import Registry, Spec


def make_registry():
    table = Registry("widget")

    @table.register("plain")
    def plain(n_classes: int, k: int = 4, p: float = 0.5, hard: bool = False, mode: str = "a"):
        """A plain widget."""
        return dict(n_classes=n_classes, k=k, p=p, hard=hard, mode=mode)

    return table


def test_spec_parse_forms():
    assert Spec.parse("multisample:k=8,p=0.5") == Spec("multisample", {"k": "8", "p": "0.5"})
    assert Spec.parse("label_smoothing:0.1") == Spec("label_smoothing", {}, ("0.1",))
    assert Spec.parse(" ArcFace ") == Spec("arcface")
    assert str(Spec.parse("a:1,k=2")) == "a:1,k=2"


def test_build_coerces_types_and_passes_context():
    table = make_registry()
    built = table.build("plain:k=8,p=0.25,hard=true,mode=b", n_classes=3, unused=1)
    assert built == dict(n_classes=3, k=8, p=0.25, hard=True, mode="b")
    assert table.build("plain:16", n_classes=2)["k"] == 16


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("plian", "Did you mean 'plain'"),
        ("plain:kk=3", "Did you mean 'k'"),
        ("plain:k=x", "must be of type int"),
        ("plain:hard=maybe", "must be of type bool"),
        ("plain:k=1,2", "bare value"),
        ("plain:1,2,3,4,5", "at most 4"),
        ("", "non-empty"),
    ],
)
def test_bad_specs_fail_with_one_clear_sentence(spec, message):
    with pytest.raises(ConfigError, match=message):
        make_registry().build(spec, n_classes=2)


def test_register_twice_is_refused():
    table = make_registry()
    with pytest.raises(ValueError, match="twice"):
        table.register("plain")(lambda: None)

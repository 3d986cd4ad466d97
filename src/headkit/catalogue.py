"""The catalogue of named techniques, rendered from the registries themselves.

Every family (activations, dropout kinds, output maps, heads, losses, …) is a
:class:`headkit.registry.Registry`; each entry's name, one-line summary, options and option
defaults are read from its declaration (the factory's signature), so this page cannot repeat a
default by hand. Families are found by reading the package's source for ``NAME = Registry(...)``,
and every module that registers into one is imported, so a new family or a new entry appears
without editing this module.

``python -m headkit.catalogue --write`` rewrites ``docs/catalogue.md`` (atomically);
``--check`` exits 1 when the file is stale; with neither, the markdown goes to stdout.
``tests/test_catalogue.py`` fails when the committed file differs from :func:`render`.
``headkit list [FAMILY]`` prints the same rows (:func:`family_rows`).

Importing this module imports torch (through the registries' modules), so the CLI imports it
inside the command, never at start-up.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headkit.exceptions import ConfigError
from headkit.registry import Registry

PACKAGE_ROOT = Path(__file__).resolve().parent
DOC_PATH = PACKAGE_ROOT.parents[1] / "docs" / "catalogue.md"
_DEFINITION = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*Registry\(", re.MULTILINE)
_REGISTRATION = re.compile(r"^\s*@?([A-Z][A-Z0-9_]*)\.register\(", re.MULTILINE)


@dataclass(frozen=True)
class Meta:
    """How a family is presented: its title, the setting that takes it, caller-filled options."""

    title: str
    setting: str | None = None
    context: tuple[str, ...] = ()
    usage: str = ""


# Presentation only (order, titles, where a name is used); names, summaries, options and defaults
# come from the registries. A family missing here is still listed, after these, by its own name
# (and with its setting when a config field has the family's name).
_META: dict[str, Meta] = {
    "ACTIVATIONS": Meta("Activations", "activation", ()),
    "DROPOUTS": Meta("Dropout kinds", "dropout"),
    "OUTPUTS": Meta("Output maps", "output", ("n_classes",)),
    "HEADS": Meta("Heads", "head", ("in_features", "n_classes")),
    "LOSSES": Meta("Losses", "loss", ("n_classes", "output", "network")),
    "RESIDUALS": Meta("Residual connections", "residual", ("n_blocks",)),
    "INITS": Meta("Initialisations", "init", ("activation",)),
    "SOLVERS": Meta("Solvers", "solver"),
    "AUGMENTS": Meta("Augmentations", "augment"),
    "BLOCKS": Meta("Dense block kinds", "block"),
    "INPUT_GATES": Meta("Input-feature gates", "input_gates", ("n_features",)),
    "LAYER_DROPS": Meta("Layer dropout and early exit", "layer_drop"),
    "PRUNING": Meta("Pruning (sparse Dense layers)", "prune"),
    "PRIVACY": Meta("Privacy (differentially private training)", "privacy"),
    "PRESETS": Meta("Presets", "preset"),
    "DATASETS": Meta(
        "Data sets",
        usage='`headkit.data.load_dataset("NAME")`; CLI: `--dataset NAME` '
        "(`train`; `evaluate` and `predict` take the name in place of a file)",
    ),
    "BLOCK_CRITERIA": Meta(
        "Block-importance criteria",
        usage='`headkit.evaluation.block_importance(clf, X, "NAME")`; the report\'s '
        "block-importance table",
    ),
}


@dataclass(frozen=True)
class Family:
    """One registry as the catalogue shows it.

    Attributes
    ----------
    key : str
        The name ``headkit list`` takes: the registry's variable name in lower case
        (``"dropouts"``, ``"block_criteria"``).
    registry : Registry
    where : str
        Import path of the registry, ``"headkit.nn.dropout.DROPOUTS"``.
    meta : Meta
    """

    key: str
    registry: Registry
    where: str
    meta: Meta

    @property
    def title(self) -> str:
        return self.meta.title


@dataclass(frozen=True)
class Row:
    """One registered name: its options written as a spec would (``"k=4"``) and its summary."""

    name: str
    options: tuple[str, ...]
    summary: str
    extras: tuple[str, ...] = ()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _scan() -> tuple[dict[str, str], set[str]]:
    """Read the source: registry variable → defining module, and the modules that register."""
    defined: dict[str, str] = {}
    texts: dict[str, str] = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        module = _module_name(path)
        texts[module] = text
        for name in _DEFINITION.findall(text):
            defined.setdefault(name, module)
    registering = {
        module
        for module, text in texts.items()
        if any(name in defined for name in _REGISTRATION.findall(text))
    }
    return defined, registering


def families() -> list[Family]:
    """Return every registry family, filled (each module that registers into it imported)."""
    defined, registering = _scan()
    for module in sorted(registering | set(defined.values())):
        importlib.import_module(module)
    order = [*(name for name in _META if name in defined), *sorted(set(defined) - set(_META))]
    found = []
    for name in order:
        registry = getattr(importlib.import_module(defined[name]), name)
        if not isinstance(registry, Registry):
            continue
        meta = _META.get(name) or Meta(
            registry.family[:1].upper() + registry.family[1:], registry.family.replace(" ", "_")
        )
        found.append(Family(name.lower(), registry, f"{defined[name]}.{name}", meta))
    return found


def family(key: str) -> Family:
    """Return the family ``key`` names (``"heads"``, ``"HEADS"``, ``"head"``, ``"dropout kind"``).

    Raises
    ------
    ConfigError
        For an unknown family; the message lists the families and suggests the closest.
    """
    wanted = key.strip().lower().replace("-", "_").replace(" ", "_")
    known = families()
    for fam in known:
        aliases = {fam.key, fam.key.rstrip("s"), fam.registry.family.replace(" ", "_")}
        if wanted in aliases or wanted == fam.title.lower().replace(" ", "_"):
            return fam
    keys = [fam.key for fam in known]
    close = difflib.get_close_matches(wanted, keys, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"Unknown family {key!r}; choose one of {', '.join(keys)}.{hint}")


def _value(value: Any) -> str:
    """Write a default as a spec string would."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, tuple):
        return "/".join(_value(v) for v in value) if value else "()"
    return str(value)


def _annotation(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace(" | None", "").replace("None | ", "")


def _options(fam: Family, name: str) -> tuple[str, ...]:
    options = fam.registry.options(name, fam.meta.context)
    written = []
    for option, parameter in options.items():
        text = f"{option}={_value(parameter.default)}"
        if parameter.default is None:
            text += f" ({_annotation(parameter.annotation)})"
        written.append(text)
    return tuple(written)


def _activation_extras(name: str) -> tuple[str, ...]:
    from headkit.nn.activations import activation_info

    info = activation_info(name)

    def bound(value: float) -> str:
        text = "∞" if value == float("inf") else "−∞" if value == float("-inf") else f"{value:.4g}"
        return text.replace("-", "−")

    yes = {True: "yes", False: "no"}
    return (
        f"{bound(info.lower)} to {bound(info.upper)}",
        yes[info.monotone],
        yes[info.smooth],
        yes[info.zero_centred],
    )


# Columns beyond name, options and summary that some families declare about their entries.
_EXTRAS: dict[str, tuple[tuple[str, ...], Callable[[str], tuple[str, ...]]]] = {
    "activations": (
        ("bounds (inf to sup)", "monotone", "smooth", "zero-centred"),
        _activation_extras,
    ),
}


def family_rows(key: str | Family) -> list[Row]:
    """Return one :class:`Row` per registered name of a family, sorted by name.

    Parameters
    ----------
    key : str or Family
        A family key (``"dropouts"``; see :func:`family`) or a :class:`Family`.
    """
    fam = key if isinstance(key, Family) else family(key)
    extras = _EXTRAS.get(fam.key)
    return [
        Row(
            name,
            _options(fam, name),
            fam.registry.summary(name),
            extras[1](name) if extras else (),
        )
        for name in fam.registry.names()
    ]


def extra_columns(fam: Family) -> tuple[str, ...]:
    """Return the titles of a family's declared extra columns (``()`` for most)."""
    extras = _EXTRAS.get(fam.key)
    return extras[0] if extras else ()


def _setting_field(name: str) -> Any:
    from headkit.config import NetworkConfig, TrainingConfig, settings

    fields = {f.name: f for cls in (NetworkConfig, TrainingConfig) for f in settings(cls)}
    return fields.get(name)


def usage(fam: Family) -> str:
    """Return one markdown line: where a family's names are used, and the setting's default."""
    if fam.meta.usage:
        return f"Used by {fam.meta.usage}."
    setting = fam.meta.setting
    field = _setting_field(setting) if setting else None
    if field is None:
        return ""
    flag = "--" + setting.replace("_", "-")
    default = "none" if field.default is None else _value(field.default)
    return (
        f"`HeadClassifier({setting}=...)`, `headkit train {flag}`; default `{default}`. "
        f"{_markdown(field.metadata['help'])}"
    )


def _markdown(text: str) -> str:
    """Turn a docstring's reST literals into markdown and keep a table cell on one line."""
    return text.replace("``", "`").replace("|", "\\|").replace("\n", " ").strip()


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def _slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).strip().replace(" ", "-")


def render_family(fam: Family) -> str:
    """Return the markdown section of one family: a heading, its usage line and a table."""
    extras = extra_columns(fam)
    header = ["name", "options (defaults)", *extras, "what it is"]
    lines = [
        f"## {fam.title}",
        "",
        _wrap(f"{usage(fam)} Registry: `{fam.where}`; `headkit list {fam.key}`.".lstrip()),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in family_rows(fam):
        options = ", ".join(f"`{_markdown(option)}`" for option in row.options) or "—"
        cells = [f"`{row.name}`", options, *row.extras, _markdown(row.summary)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


HEADER = """\
# Catalogue of named techniques

<!-- Generated from the registries by `python -m headkit.catalogue --write`; do not edit by hand.
tests/test_catalogue.py fails when this file differs from what the registries say. -->

Every technique is chosen by a *spec string*: a registered name, then options after a colon
(`"multisample:k=8,p=0.5"`, `"arcface:s=30,m=0.5"`); a bare value fills the first option
(`"label_smoothing:0.1"`). The same strings work in `HeadClassifier`, in `HeadNet`/`NetworkConfig`
and as `headkit train` flags, and a saved run keeps them. A misspelt name or option fails with a
suggestion. Each option's default below is read from the signature of the class or function the
name builds, the one place it is written; `REGISTRY.defaults(name)` returns the same in Python.
`headkit list [FAMILY]` prints these tables. Options filled by the caller (sizes, the network,
the output map) are not listed.
"""


def render() -> str:
    """Return the whole catalogue page as markdown."""
    found = families()
    index = ["| family | entries | `headkit list` |", "|---|---|---|"]
    for fam in found:
        count = len(fam.registry.names())
        index.append(f"| [{fam.title}](#{_slug(fam.title)}) | {count} | `{fam.key}` |")
    sections = [render_family(fam) for fam in found]
    return "\n".join([HEADER, "\n".join(index) + "\n", *sections])


def main(argv: Sequence[str] | None = None) -> int:
    """Print the catalogue, write it (``--write [PATH]``) or check it (``--check [PATH]``)."""
    parser = argparse.ArgumentParser(prog="python -m headkit.catalogue", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="rewrite the file atomically")
    group.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    parser.add_argument("path", nargs="?", type=Path, default=DOC_PATH, help="the markdown file")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        from headkit.io import atomic_write_text

        atomic_write_text(args.path, text)
        print(f"Wrote {args.path}.")
        return 0
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale; run `python -m headkit.catalogue --write`.")
            return 1
        print(f"{args.path} is up to date.")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

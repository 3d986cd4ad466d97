"""Name → constructor tables for the technique families.

Every family (dropout kinds, heads, output maps, losses, data sets) is chosen by a *spec* string in
configs, the estimator and the CLI: a registered name, optionally followed by options after a
colon, e.g. ``"multisample:k=8,p=0.5"``, ``"arcface:s=30,m=0.5"`` or ``"label_smoothing:0.1"`` (a
bare value fills the first option). Each family owns one :class:`Registry`; the module that defines
a technique registers it next to its definition, so a new technique is one function, one entry and
one test.

This module imports nothing heavy: the CLI's ``--help`` must not import torch.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_type_hints

from headkit.exceptions import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Spec:
    """A parsed spec string: a name and its options.

    Parameters
    ----------
    name : str
        The registered name, lower-case.
    options : dict
        Option name → value as written (strings); :meth:`Registry.build` coerces them to the
        factory's annotated types.
    positional : tuple of str
        Bare values (``"label_smoothing:0.1"``), bound to the factory's options in order.
    """

    name: str
    options: dict[str, str] = field(default_factory=dict)
    positional: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> Spec:
        """Parse ``"name"``, ``"name:value"`` or ``"name:key=value,key=value"``."""
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(
                f"Expected a non-empty spec string such as 'name:key=value'; got {spec!r}."
            )
        name, _, rest = spec.strip().partition(":")
        options: dict[str, str] = {}
        positional: list[str] = []
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, eq, value = item.partition("=")
            if eq:
                options[key.strip().replace("-", "_")] = value.strip()
            elif options:
                raise ConfigError(
                    f"In spec {spec!r}, the bare value {item!r} follows a key=value option; "
                    "write bare values first or name every option."
                )
            else:
                positional.append(item)
        return cls(name.strip().lower().replace("-", "_"), options, tuple(positional))

    def __str__(self) -> str:
        parts = [*self.positional, *(f"{k}={v}" for k, v in self.options.items())]
        return self.name + (":" + ",".join(parts) if parts else "")


def _coerce(value: str, annotation: Any, where: str) -> Any:
    """Convert an option string to the factory parameter's annotated type."""
    text = getattr(annotation, "__name__", None) or str(annotation)
    try:
        if annotation is bool or text == "bool":
            lowered = value.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if annotation is int or text == "int":
            return int(value)
        if "tuple" in text:
            if "None" in text and value.lower() == "none":
                return None
            return tuple(float(v) for v in value.split("/"))
        if annotation is float or text == "float" or "float" in text:
            if "None" in text and value.lower() == "none":
                return None
            return float(value)
        if "int" in text and "None" in text:
            return None if value.lower() == "none" else int(value)
    except ValueError:
        raise ConfigError(f"Option {where} must be of type {text}; got {value!r}.") from None
    return value


class Registry:
    """A table from names to factories for one technique family.

    A factory is usually the class itself (``HEADS.register("arcface")(ArcFaceHead)``): the spec's
    options are then the class's own keyword parameters with their defaults, so the default of a
    setting is written once, in the class. A function that adapts a class (building a base loss
    first, converting a seed to vectors) names the class in ``options_from`` and takes the user's
    options as ``**options``, again without repeating them.

    Parameters
    ----------
    family : str
        What the table holds, used in messages (``"head"``, ``"output map"``).
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, _Entry] = {}

    def register(
        self,
        name: str,
        summary: str = "",
        *,
        options_from: Callable[..., Any] | None = None,
        aliases: dict[str, str] | None = None,
    ) -> Callable[[F], F]:
        """Return a decorator that registers a factory (a class or a function) under ``name``.

        Parameters
        ----------
        name : str
            The spec name.
        summary : str
            One-line description; default: the first docstring line of ``options_from`` or of the
            factory.
        options_from : callable, optional
            Class or function whose parameters with defaults (keyword-only ones excepted) are the
            options (default: the factory itself). Parameters named in :meth:`build`'s ``context`` (such as
            ``in_features`` or ``n_classes``) are filled by the caller, not by the user.
        aliases : dict, optional
            Former option names → current names, still accepted so that saved runs load.
        """

        def decorator(factory: F) -> F:
            key = name.lower()
            if key in self._entries:
                raise ValueError(f"{self.family} {name!r} is registered twice.")
            source = options_from or factory
            doc = (inspect.getdoc(source) or inspect.getdoc(factory) or "").strip().splitlines()
            self._entries[key] = _Entry(
                factory, source, summary or (doc[0] if doc else ""), dict(aliases or {})
            )
            return factory

        return decorator

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)

    def summary(self, name: str) -> str:
        """Return the one-line description of a registered name."""
        return self._entries[name.lower()].summary

    def _entry(self, name: str) -> _Entry:
        key = name.lower().replace("-", "_")
        if key not in self._entries:
            close = difflib.get_close_matches(key, self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown {self.family} {name!r}; choose one of {', '.join(self.names())}.{hint}"
            )
        return self._entries[key]

    def factory(self, name: str) -> Callable[..., Any]:
        """Return the factory for ``name``, or raise a :class:`ConfigError` suggesting a name."""
        return self._entry(name).factory

    def options(self, name: str, context: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
        """Return the user-settable options of ``name``: keyword parameters with defaults."""
        return {k: p for k, p in self._entry(name).parameters().items() if k not in context}

    def defaults(self, name: str, context: tuple[str, ...] = ()) -> dict[str, Any]:
        """Return option name → default value of ``name`` (the one place it is written)."""
        return {k: p.default for k, p in self.options(name, context).items()}

    def resolve(
        self, spec: str | Spec, context: tuple[str, ...] = ()
    ) -> tuple[str, dict[str, Any]]:
        """Validate a spec and return ``(name, options)`` with typed option values.

        Raises
        ------
        ConfigError
            For an unknown name, an unknown option or a value of the wrong type.
        """
        parsed = spec if isinstance(spec, Spec) else Spec.parse(spec)
        entry = self._entry(parsed.name)
        allowed = self.options(parsed.name, context)
        order = list(allowed)
        if len(parsed.positional) > len(order):
            raise ConfigError(
                f"{self.family} {parsed.name!r} takes at most {len(order)} option(s) "
                f"({', '.join(order) or 'none'}); got {len(parsed.positional)} bare values."
            )
        raw = dict(zip(order, parsed.positional, strict=False))
        for written, value in parsed.options.items():
            key = entry.aliases.get(written, written)
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{self.family} {parsed.name!r} has no option {key!r}; its options are "
                    f"{', '.join(allowed) or 'none'}.{hint}"
                )
            raw[key] = value
        hints = entry.hints()
        where = f"of {parsed.name!r}"
        typed = {
            key: _coerce(value, hints.get(key, allowed[key].annotation), f"{key!r} {where}")
            for key, value in raw.items()
        }
        return parsed.name, typed

    def build(self, spec: str | Spec, **context: Any) -> Any:
        """Construct the object a spec names.

        Parameters
        ----------
        spec : str or Spec
            ``"name"`` or ``"name:key=value,..."``.
        **context
            Values the caller supplies (sizes, related modules). Only those the factory names
            as parameters are passed.
        """
        name, options = self.resolve(spec, tuple(context))
        return self.construct(name, options, **context)

    def construct(self, name: str, options: dict[str, Any], **context: Any) -> Any:
        """Construct ``name`` from typed ``options`` (as :meth:`resolve` returns them)."""
        entry = self._entry(name)
        named = entry.accepted()
        passed = {k: v for k, v in context.items() if k in named and k not in options}
        try:
            return entry.factory(**passed, **options)
        except ConfigError:
            raise
        except (TypeError, ValueError) as error:
            raise ConfigError(f"Cannot build {self.family} {name!r}: {error}") from error

    def resolved(self, spec: str | Spec, context: tuple[str, ...] = ()) -> dict[str, Any]:
        """``{"name": ..., "options": {...}}`` of a spec with every default filled in (JSON-ready).

        What a saved run records, so that an engine that does not import the factories (the
        NumPy engine) reads each option's value, defaults included, from the declarations.
        """
        name, options = self.resolve(spec, context)
        values = {**self.defaults(name, context), **options}
        return {"name": name, "options": {k: _plain(v) for k, v in values.items()}}


def _plain(value: Any) -> Any:
    """A JSON-ready copy of an option value (numbers, text, flags, None and tuples of them)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return repr(value)


def _parameters(source: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """Named parameters of a function, or of a class's constructor (``self`` excluded)."""
    params = inspect.signature(source).parameters
    return {k: p for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


@dataclass(frozen=True)
class _Entry:
    """One registered name: what builds it, where its options are read, and its summary."""

    factory: Callable[..., Any]
    source: Callable[..., Any]
    summary: str
    aliases: dict[str, str]

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The user's options: the source's parameters that have a default.

        Keyword-only parameters are for programs (a process group, a module), not spec strings.
        """
        params = _parameters(self.source)
        return {
            k: p
            for k, p in params.items()
            if p.default is not p.empty and p.kind is not p.KEYWORD_ONLY
        }

    def accepted(self) -> set[str]:
        """Names the factory takes: its own parameters, and the source's when it has ``**``."""
        names = set(_parameters(self.factory))
        params = inspect.signature(self.factory).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            names |= set(_parameters(self.source))
        return names

    def hints(self) -> dict[str, Any]:
        """Evaluated type hints of the source's parameters (strings where they cannot be)."""
        target = self.source.__init__ if inspect.isclass(self.source) else self.source
        try:
            return get_type_hints(target)
        except Exception:  # annotations that cannot be evaluated: keep strings
            return {}

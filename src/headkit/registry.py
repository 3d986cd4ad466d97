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
        if annotation is float or text == "float" or "float" in text:
            if "None" in text and value.lower() == "none":
                return None
            return float(value)
        if "int" in text and "None" in text:
            return None if value.lower() == "none" else int(value)
        if "tuple" in text:
            return tuple(float(v) for v in value.split("/"))
    except ValueError:
        raise ConfigError(f"Option {where} must be of type {text}; got {value!r}.") from None
    return value


class Registry:
    """A table from names to factories for one technique family.

    Parameters
    ----------
    family : str
        What the table holds, used in messages (``"head"``, ``"output map"``).
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._factories: dict[str, Callable[..., Any]] = {}
        self._summaries: dict[str, str] = {}

    def register(self, name: str, summary: str = "") -> Callable[[F], F]:
        """Return a decorator that registers a factory under ``name``.

        The factory's keyword parameters are the spec's options; parameters named in
        :meth:`build`'s ``context`` (such as ``in_features`` or ``n_classes``) are filled by the
        caller, not by the user.
        """

        def decorator(factory: F) -> F:
            key = name.lower()
            if key in self._factories:
                raise ValueError(f"{self.family} {name!r} is registered twice.")
            self._factories[key] = factory
            doc = (inspect.getdoc(factory) or "").strip().splitlines()
            self._summaries[key] = summary or (doc[0] if doc else "")
            return factory

        return decorator

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._factories)

    def summary(self, name: str) -> str:
        """Return the one-line description of a registered name."""
        return self._summaries[name.lower()]

    def factory(self, name: str) -> Callable[..., Any]:
        """Return the factory for ``name``, or raise a :class:`ConfigError` suggesting a name."""
        key = name.lower().replace("-", "_")
        if key not in self._factories:
            close = difflib.get_close_matches(key, self._factories, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown {self.family} {name!r}; choose one of {', '.join(self.names())}.{hint}"
            )
        return self._factories[key]

    def options(self, name: str, context: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
        """Return the user-settable options of ``name`` (the factory's parameters minus context)."""
        params = inspect.signature(self.factory(name)).parameters
        return {k: p for k, p in params.items() if k not in context and p.kind is not p.VAR_KEYWORD}

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
        factory = self.factory(parsed.name)
        allowed = self.options(parsed.name, context)
        try:
            hints = get_type_hints(factory)
        except Exception:  # annotations that cannot be evaluated: keep strings
            hints = {}
        order = list(allowed)
        if len(parsed.positional) > len(order):
            raise ConfigError(
                f"{self.family} {parsed.name!r} takes at most {len(order)} option(s) "
                f"({', '.join(order) or 'none'}); got {len(parsed.positional)} bare values."
            )
        raw = dict(zip(order, parsed.positional, strict=False))
        for key, value in parsed.options.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{self.family} {parsed.name!r} has no option {key!r}; its options are "
                    f"{', '.join(allowed) or 'none'}.{hint}"
                )
            raw[key] = value
        typed = {
            key: _coerce(value, hints.get(key, allowed[key].annotation), f"{key!r} of {name!r}")
            for key, value in raw.items()
            for name in [parsed.name]
        }
        return parsed.name, typed

    def build(self, spec: str | Spec, **context: Any) -> Any:
        """Construct the object a spec names.

        Parameters
        ----------
        spec : str or Spec
            ``"name"`` or ``"name:key=value,..."``.
        **context
            Values the caller supplies (sizes, related modules). Only those the factory accepts
            are passed.
        """
        name, options = self.resolve(spec, tuple(context))
        params = inspect.signature(self.factory(name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        passed = {k: v for k, v in context.items() if takes_any or k in params}
        try:
            return self.factory(name)(**passed, **options)
        except ConfigError:
            raise
        except (TypeError, ValueError) as error:
            raise ConfigError(f"Cannot build {self.family} {str(spec)!r}: {error}") from error

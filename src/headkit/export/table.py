"""ONNX nodes for a run's table preprocessing, placed in front of the network's graph.

A run fitted on a table (:class:`headkit.data.preprocessing.TablePreprocessor`) exports with one
graph input per table column, each of shape (N, 1):

* numeric columns: float32, NaN where a value is missing →
  ``(where(isnan(x), median, x) - mean) / scale`` and, where the column had gaps in training,
  the 0/1 missing flag ``cast(isnan(x))``; with ``numeric="robust_clip"`` the scaled value is
  then smoothly clipped, ``x / sqrt(1 + (x/3)²)``; with ``numeric="ple"`` the piecewise-linear
  bins ``clip((filled - e_t) / (e_{t+1} - e_t), 0, 1)`` follow;
* one-hot columns: string (the value's text, ``""`` where missing) →
  ``ai.onnx.ml.LabelEncoder`` (training categories → 0..k-1, anything else → k, the unknown slot)
  → ``OneHot(depth=k+1)``;
* boolean columns: string (``yes``/``no``, ``true``/``false``, ``y``/``n``, ``t``/``f``,
  ``on``/``off`` in lower, upper or title case; anything else is a gap) → 1.0/0.0 → as numeric;
* date columns: float64 **seconds since 1970-01-01 UTC** (NaN where missing; ONNX cannot parse
  date text) → year, month, day, weekday, hour, day count and their circles, computed with
  Howard Hinnant's ``civil_from_days`` in ``Floor`` arithmetic (exact for whole seconds), each
  imputed and scaled as in training;
* identifier and constant columns: no input (they are not learned from).

The blocks are concatenated in the preprocessor's output order into the tensor the network reads,
so the exported model takes the same table rows as ``headkit predict``. Hashed (high-cardinality)
columns use CRC-32, which ONNX cannot compute: such runs fail with :class:`ExportError` naming
the column. Text cells of one-hot columns are matched as given (``headkit predict`` also strips
blanks and reads ``?``, ``NA``, ... as gaps; in ONNX those land in the unknown slot, as gaps do).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headkit.exceptions import ExportError

ML_DOMAIN = "ai.onnx.ml"


def _const(name: str, value: Any, dtype: Any = np.float32) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def _numeric(entry: dict[str, Any], column: str, index: int) -> tuple[list, list, list[str]]:
    from onnx import TensorProto, helper

    p = f"pre{index}_"
    consts = [
        _const(p + "median", [entry["median"]]),
        _const(p + "mean", [entry["mean"]]),
        _const(p + "scale", [entry["scale"]]),
    ]
    nodes = [
        helper.make_node("IsNaN", [column], [p + "isnan"]),
        helper.make_node("Where", [p + "isnan", p + "median", column], [p + "filled"]),
        helper.make_node("Sub", [p + "filled", p + "mean"], [p + "centred"]),
        helper.make_node("Div", [p + "centred", p + "scale"], [p + "scaled"]),
    ]
    outputs = [p + "scaled"]
    if entry.get("clip"):  # smooth clipping: x / sqrt(1 + (x / 3)²)
        consts += [_const(p + "bound", [3.0]), _const(p + "one", [1.0])]
        nodes += [
            helper.make_node("Div", [p + "scaled", p + "bound"], [p + "ratio"]),
            helper.make_node("Mul", [p + "ratio", p + "ratio"], [p + "square"]),
            helper.make_node("Add", [p + "square", p + "one"], [p + "radicand"]),
            helper.make_node("Sqrt", [p + "radicand"], [p + "root"]),
            helper.make_node("Div", [p + "scaled", p + "root"], [p + "clipped"]),
        ]
        outputs = [p + "clipped"]
    if entry.get("edges"):  # piecewise-linear bins: clip((filled - low) / width, 0, 1)
        edges = np.asarray(entry["edges"], dtype=np.float64)
        consts += [
            _const(p + "low", edges[None, :-1]),
            _const(p + "width", np.diff(edges)[None, :]),
            _const(p + "zero", 0.0),
            _const(p + "unit", 1.0),
        ]
        nodes += [
            helper.make_node("Sub", [p + "filled", p + "low"], [p + "offset"]),
            helper.make_node("Div", [p + "offset", p + "width"], [p + "position"]),
            helper.make_node("Clip", [p + "position", p + "zero", p + "unit"], [p + "bins"]),
        ]
        outputs.append(p + "bins")
    if entry["indicator"]:
        nodes.append(helper.make_node("Cast", [p + "isnan"], [p + "flag"], to=TensorProto.FLOAT))
        outputs.append(p + "flag")
    return nodes, consts, outputs


def _onehot(entry: dict[str, Any], column: str, index: int) -> tuple[list, list, list[str]]:
    from onnx import helper

    p = f"pre{index}_"
    categories = [str(c) for c in entry["categories"]]
    width = len(categories)
    consts = [_const(p + "depth", [width + 1], np.int64), _const(p + "values", [0.0, 1.0])]
    nodes = [
        helper.make_node(
            "LabelEncoder",
            [column],
            [p + "code"],
            domain=ML_DOMAIN,
            keys_strings=categories,
            values_int64s=list(range(width)),
            default_int64=width,
        ),
        helper.make_node("OneHot", [p + "code", p + "depth", p + "values"], [p + "onehot3"]),
        helper.make_node("Squeeze", [p + "onehot3", p + "axis"], [p + "onehot"]),
    ]
    consts.append(_const(p + "axis", [1], np.int64))
    return nodes, consts, [p + "onehot"]


class _Graph:
    """A tiny node builder: each node gets a fresh output name under one prefix."""

    def __init__(self, prefix: str, dtype: Any = np.float64) -> None:
        self.prefix, self.dtype = prefix, dtype
        self.nodes: list[Any] = []
        self.consts: list[Any] = []

    def op(self, kind: str, *inputs: Any, **attrs: Any) -> str:
        from onnx import helper

        names = []
        for value in inputs:
            if not isinstance(value, str):  # a number: a one-element constant
                names.append(f"{self.prefix}c{len(self.consts)}")
                self.consts.append(_const(names[-1], [value], self.dtype))
            else:
                names.append(value)
        out = f"{self.prefix}t{len(self.nodes)}"
        self.nodes.append(helper.make_node(kind, names, [out], **attrs))
        return out

    def floordiv(self, a: Any, b: float) -> str:
        return self.op("Floor", self.op("Div", a, b))

    def scaled(self, value: str, stats: dict[str, Any]) -> str:
        """``(where(isnan(v), median, v) - mean) / scale``, as float32."""
        from onnx import TensorProto

        filled = self.op("Where", self.op("IsNaN", value), stats["median"], value)
        out = self.op("Div", self.op("Sub", filled, stats["mean"]), stats["scale"])
        return out if self.dtype == np.float32 else self.op("Cast", out, to=TensorProto.FLOAT)


def _calendar(g: _Graph, seconds: str) -> dict[str, str]:
    """Year, month, day, weekday (Monday 0), hour and day count of seconds since 1970."""
    from onnx import TensorProto

    days = g.op("Div", seconds, 86400.0)
    whole = g.op("Floor", days)
    hour = g.floordiv(g.op("Sub", seconds, g.op("Mul", whole, 86400.0)), 3600.0)
    z = g.op("Add", whole, 719468.0)  # civil_from_days: days from 0000-03-01
    era = g.floordiv(z, 146097.0)
    doe = g.op("Sub", z, g.op("Mul", era, 146097.0))
    yoe = g.op("Add", g.op("Sub", doe, g.floordiv(doe, 1460.0)), g.floordiv(doe, 36524.0))
    yoe = g.floordiv(g.op("Sub", yoe, g.floordiv(doe, 146096.0)), 365.0)
    doy = g.op("Sub", doe, g.op("Mul", yoe, 365.0))
    doy = g.op("Sub", doy, g.op("Sub", g.floordiv(yoe, 4.0), g.floordiv(yoe, 100.0)))
    mp = g.floordiv(g.op("Add", g.op("Mul", doy, 5.0), 2.0), 153.0)
    day = g.op("Sub", doy, g.floordiv(g.op("Add", g.op("Mul", mp, 153.0), 2.0), 5.0))
    late = g.op("Cast", g.op("GreaterOrEqual", mp, 10.0), to=TensorProto.DOUBLE)
    month = g.op("Sub", g.op("Add", mp, 3.0), g.op("Mul", late, 12.0))
    early = g.op("Cast", g.op("LessOrEqual", month, 2.0), to=TensorProto.DOUBLE)
    year = g.op("Add", g.op("Add", yoe, g.op("Mul", era, 400.0)), early)
    shifted = g.op("Add", whole, 3.0)  # 1970-01-01 was a Thursday
    weekday = g.op("Sub", shifted, g.op("Mul", g.floordiv(shifted, 7.0), 7.0))
    parts = {"year": year, "month": month, "day": g.op("Add", day, 1.0), "weekday": weekday,
             "hour": hour, "days": days}  # fmt: skip
    for part, period, offset in (("month", 12, 1), ("weekday", 7, 0), ("hour", 24, 0)):
        angle = g.op("Mul", g.op("Sub", parts[part], float(offset)), 2 * np.pi / period)
        parts[f"{part}_sin"], parts[f"{part}_cos"] = g.op("Sin", angle), g.op("Cos", angle)
    return parts


def _date(entry: dict[str, Any], column: str, index: int) -> tuple[list, list, list[str]]:
    from onnx import TensorProto

    g = _Graph(f"pre{index}_")
    parts = _calendar(g, column)
    outputs = [g.scaled(parts[p["part"]], p) for p in entry["parts"]]
    if entry.get("indicator"):
        outputs.append(g.op("Cast", g.op("IsNaN", column), to=TensorProto.FLOAT))
    return g.nodes, g.consts, outputs


def _boolean(entry: dict[str, Any], column: str, index: int) -> tuple[list, list, list[str]]:
    from onnx import TensorProto

    from headkit.data.column_roles import FALSE_WORDS, TRUE_WORDS

    g = _Graph(f"pre{index}_", np.float32)
    words = {v: 1.0 for w in TRUE_WORDS for v in (w, w.upper(), w.title())}
    words |= {v: 0.0 for w in FALSE_WORDS for v in (w, w.upper(), w.title())}
    number = g.op("LabelEncoder", column, domain=ML_DOMAIN, keys_strings=list(words),
                  values_floats=list(words.values()), default_float=float("nan"))  # fmt: skip
    outputs = [g.scaled(number, entry)]
    if entry.get("indicator"):
        outputs.append(g.op("Cast", g.op("IsNaN", number), to=TensorProto.FLOAT))
    return g.nodes, g.consts, outputs


_BUILDERS = {"numeric": _numeric, "onehot": _onehot, "boolean": _boolean, "datetime": _date}


def prepend_table_preprocessing(model: Any, state: dict[str, Any], input_name: str) -> list[str]:
    """Replace ``model``'s input ``input_name`` by one input per table column, in place.

    Parameters
    ----------
    model : onnx.ModelProto
        The network graph, reading the encoded matrix (N, F) from ``input_name``.
    state : dict
        ``TablePreprocessor.to_dict()`` of the run.
    input_name : str
        The network graph's input.

    Returns
    -------
    list of str
        The new inputs (the table's learned-from column names), in order.

    Raises
    ------
    ExportError
        For hashed columns (naming them), or a column name that clashes with a tensor of the
        graph.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    taken = {t for node in graph.node for t in (*node.input, *node.output)}
    taken |= {i.name for i in graph.initializer} | {o.name for o in graph.output}
    nodes, consts, blocks, inputs = [], [], [], []
    rows = graph.input[0].type.tensor_type.shape.dim[0].dim_param or "rows"
    elem_types = {"numeric": TensorProto.FLOAT, "datetime": TensorProto.DOUBLE}
    for index, entry in enumerate(state["columns"]):
        column = str(entry["name"])
        if entry["role"] in ("identifier", "constant"):
            continue  # not learned from: no input
        if column in taken or column.startswith("pre"):
            raise ExportError(
                f"Column name {column!r} clashes with a name inside the ONNX graph; rename the "
                "column and retrain to export."
            )
        if entry["role"] == "hash":
            raise ExportError(
                f"Column {column!r} is hashed (CRC-32 of its text), which ONNX cannot compute; "
                "export needs every categorical column one-hot (raise max_onehot and retrain)."
            )
        new_nodes, new_consts, outs = _BUILDERS[entry["role"]](entry, column, index)
        nodes += new_nodes
        consts += new_consts
        blocks += outs
        elem = elem_types.get(entry["role"], TensorProto.STRING)
        inputs.append(helper.make_tensor_value_info(column, elem, [rows, 1]))
    nodes.append(helper.make_node("Concat", blocks, [input_name], axis=1))
    old = [i for i in graph.input if i.name != input_name]
    del graph.input[:]
    graph.input.extend([*inputs, *old])
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *existing])
    graph.initializer.extend(consts)
    if not any(o.domain == ML_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(ML_DOMAIN, 2))
    return [i.name for i in inputs]

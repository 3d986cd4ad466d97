"""ONNX nodes for a run's table preprocessing, placed in front of the network's graph.

A run fitted on a table (:class:`headkit.data.preprocessing.TablePreprocessor`) exports with one
graph input per table column, each of shape (N, 1):

* numeric columns: float32, NaN where a value is missing →
  ``(where(isnan(x), median, x) - mean) / scale`` and, where the column had gaps in training,
  the 0/1 missing flag ``cast(isnan(x))``; with ``numeric="robust_clip"`` the scaled value is
  then smoothly clipped, ``x / sqrt(1 + (x/3)²)``;
* one-hot columns: string (the value's text, ``""`` where missing) →
  ``ai.onnx.ml.LabelEncoder`` (training categories → 0..k-1, anything else → k, the unknown slot)
  → ``OneHot(depth=k+1)``.

The blocks are concatenated in the preprocessor's output order into the tensor the network reads,
so the exported model takes the same table rows as ``headkit predict``. Hashed (high-cardinality)
columns use CRC-32, which ONNX cannot compute: such runs fail with :class:`ExportError`.
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
        The new inputs (the table's column names), in order.

    Raises
    ------
    ExportError
        For hashed columns, or a column name that clashes with a tensor of the graph.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    taken = {t for node in graph.node for t in (*node.input, *node.output)}
    taken |= {i.name for i in graph.initializer} | {o.name for o in graph.output}
    nodes, consts, blocks, inputs = [], [], [], []
    rows = graph.input[0].type.tensor_type.shape.dim[0].dim_param or "rows"
    for index, entry in enumerate(state["columns"]):
        column = str(entry["name"])
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
        build = _numeric if entry["role"] == "numeric" else _onehot
        elem = TensorProto.FLOAT if entry["role"] == "numeric" else TensorProto.STRING
        new_nodes, new_consts, outs = build(entry, column, index)
        nodes += new_nodes
        consts += new_consts
        blocks += outs
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
    return [str(e["name"]) for e in state["columns"]]

"""Export a saved classifier to ONNX: raw features in, probabilities and labels out.

The graph is the network's own prediction path, :meth:`headkit.nn.HeadNet.predict_proba`
(standardisation ``(x - mean) / scale`` → Dense blocks → head → ``logits / temperature`` →
output map), traced with ``torch.onnx.export`` (the ``torch.export`` based exporter), plus two
nodes that turn the probabilities into label names (``ArgMax`` → ``Gather`` from a constant
holding the classes). Inputs and outputs:

=================  ==================  =====================================================
name               shape, type         meaning
=================  ==================  =====================================================
``features``       (N, F) float32      raw feature rows, columns in ``headkit.feature_names``
``probabilities``  (N, C) float32      the output map's probabilities, columns = classes
``label``          (N,) int64/string   the most probable class (as ``headkit predict``); for a
                                       multi-label model (N, C) int64, ``probabilities > 0.5``
=================  ==================  =====================================================

The model's ``metadata_props`` hold JSON under ``headkit.classes``, ``headkit.feature_names``,
``headkit.network`` (the :class:`headkit.config.NetworkConfig`) and ``headkit.preprocessing``
(the standardisation statistics, which are also constants of the graph).

A run fitted on a table with categories or gaps (``preprocessing.json``) takes one input per table
column instead of ``features``, with its encoding in the graph: see :mod:`headkit.export.table`.

Needs the ``onnx`` extra (``pip install 'headkit[onnx]'``: onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headkit.exceptions import ExportError

if TYPE_CHECKING:
    from headkit.inference.saved_model import SavedModel

INPUT = "features"
OUTPUTS = ("probabilities", "label")
#: Parts the exporter cannot express, by registry family and name, with the reason.
UNSUPPORTED = {
    "output": {
        "entmax_bisect": "its bisection loop and per-row check of α are data-dependent, which "
        "torch.export cannot trace; retrain with output=entmax15 or sparsemax",
    },
    "head": {
        name: "its class memory (stored training features or class means, with data-dependent "
        "selection) is not traceable by torch.export; retrain with head=linear or cosine"
        for name in ("knn", "ncm")
    },
}


def _check_exportable(network_config: Any) -> None:
    from headkit.registry import Spec

    for family in UNSUPPORTED:
        name = Spec.parse(getattr(network_config, family)).name
        reason = UNSUPPORTED[family].get(name)
        if reason is not None:
            kind = "output map" if family == "output" else family
            raise ExportError(f"The {kind} {name!r} cannot be exported to ONNX: {reason}.")


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx extra; install it with pip install 'headkit[onnx]'."
        ) from None


def _trace(saved: SavedModel, opset: int | None) -> Any:
    """Return the ONNX ModelProto of ``features → probabilities``."""
    import contextlib
    import io
    import logging
    import warnings

    import torch

    class Probabilities(torch.nn.Module):
        def __init__(self, network: torch.nn.Module) -> None:
            super().__init__()
            self.network = network

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return self.network.predict_proba(features)

    network = saved.network.cpu().float().eval()
    example = torch.zeros(2, saved.n_features)
    quiet = io.StringIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                Probabilities(network).eval(),
                (example,),
                dynamo=True,
                input_names=[INPUT],
                output_names=[OUTPUTS[0]],
                dynamic_shapes=({0: torch.export.Dim("rows")},),
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
        except Exception as error:  # the exporter raises many types; report the first line
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ExportError(
                f"torch could not export head {network.config.head!r} with output "
                f"{network.config.output!r} to ONNX ({first}); retrain with parts that export."
            ) from None
    return program.model_proto


def _classes_tensor(classes: Any) -> Any:
    import numpy as np
    from onnx import numpy_helper

    if classes.dtype.kind in "iub":
        return numpy_helper.from_array(classes.astype(np.int64), "classes")
    return numpy_helper.from_array(np.array([str(c) for c in classes], dtype=object), "classes")


def _add_label_output(model: Any, classes: Any, multilabel: bool) -> None:
    """Append the ``label`` output to the graph.

    ``classes[argmax(probabilities, axis=1)]``, shape (N,); for a multi-label model the 0/1
    indicator ``probabilities > 0.5`` (int64), shape (N, C), as ``HeadClassifier.predict``.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    rows = graph.input[0].type.tensor_type.shape.dim[0].dim_param or "rows"
    if multilabel:
        graph.initializer.append(_const_half())
        graph.node.extend(
            [
                helper.make_node("Greater", [OUTPUTS[0], "half"], ["label_on"]),
                helper.make_node("Cast", ["label_on"], [OUTPUTS[1]], to=TensorProto.INT64),
            ]
        )
        shape = [rows, len(classes)]
        graph.output.append(helper.make_tensor_value_info(OUTPUTS[1], TensorProto.INT64, shape))
        return
    table = _classes_tensor(classes)
    graph.initializer.append(table)
    graph.node.extend(
        [
            helper.make_node("ArgMax", [OUTPUTS[0]], ["label_index"], axis=1, keepdims=0),
            helper.make_node("Gather", ["classes", "label_index"], [OUTPUTS[1]], axis=0),
        ]
    )
    elem = TensorProto.INT64 if table.data_type == TensorProto.INT64 else TensorProto.STRING
    graph.output.append(helper.make_tensor_value_info(OUTPUTS[1], elem, [rows]))


def _const_half() -> Any:
    import numpy as np
    from onnx import numpy_helper

    from headkit.config import MULTILABEL_THRESHOLD

    return numpy_helper.from_array(np.array(MULTILABEL_THRESHOLD, dtype=np.float32), "half")


def _metadata(saved: SavedModel) -> dict[str, str]:
    from headkit import __version__

    network = saved.network
    table = {"table": saved.preprocessing} if saved.preprocessing is not None else {}
    return {
        "headkit.version": __version__,
        "headkit.classes": json.dumps(saved.classes.tolist()),
        "headkit.feature_names": json.dumps(saved.feature_names),
        "headkit.network": json.dumps(network.config.to_dict()),
        "headkit.preprocessing": json.dumps(
            {
                "standardization": {
                    "mean": network.feature_mean.tolist(),
                    "scale": network.feature_scale.tolist(),
                    "in_graph": True,
                },
                **table,
            }
        ),
        "headkit.temperature": repr(float(network.temperature)),
    }


def export_onnx(source: str | Path | SavedModel, out: str | Path, opset: int | None = None) -> Path:
    """Write a saved classifier as an ONNX model that onnxruntime can run.

    Parameters
    ----------
    source : str, Path or SavedModel
        A run/model directory (``headkit train``, ``HeadClassifier.save``) or a loaded model.
    out : str or Path
        The ``.onnx`` file to write (replaced atomically).
    opset : int, optional
        ONNX opset (default: the exporter's).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ExportError
        A part of the network has no ONNX equivalent, or the onnx extra is missing.
    """
    from headkit.inference.saved_model import SavedModel

    saved = source if isinstance(source, SavedModel) else SavedModel.load(source)
    _check_exportable(saved.network.config)
    _require_onnx()
    import onnx

    model = _trace(saved, opset)
    if saved.preprocessing is not None:
        from headkit.export.table import prepend_table_preprocessing

        prepend_table_preprocessing(model, saved.preprocessing, INPUT)
    _add_label_output(model, saved.classes, saved.multilabel)
    sparse_initializers(model)
    model.doc_string = (
        "headkit classifier: features (N, F) float32 → probabilities (N, C), label (N,)."
    )
    for key, value in _metadata(saved).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return _write_bytes(Path(out), model.SerializeToString())


def sparse_initializers(model: Any, max_density: float = 0.5) -> list[str]:
    """Move the mostly-zero weight matrices of ``model`` into ``graph.sparse_initializer``.

    A pruned run's matrices (``prune="gmp:…"``/``"erk:…"``) become ONNX ``SparseTensorProto``
    initializers: the non-zero values and their row-major positions (int64, the linear-index
    form of the ONNX spec), ``nnz·(8 + 4)`` bytes instead of ``4·n`` for float32, so a matrix is
    moved only when that is smaller and its density is at most ``max_density``. onnxruntime
    expands them to dense tensors when it loads the model, so predictions are unchanged.

    Returns
    -------
    list of str
        The names of the initializers moved.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    graph, keep, moved = model.graph, [], []
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        flat = array.reshape(-1)
        fits = array.ndim >= 2 and array.dtype.kind == "f"
        nonzero = np.flatnonzero(flat) if fits else flat
        dense_bytes = flat.size * array.itemsize
        if not fits or len(nonzero) > max_density * flat.size:
            keep.append(tensor)
        elif len(nonzero) * (8 + array.itemsize) >= dense_bytes:
            keep.append(tensor)  # int64 positions: at a third non-zero or more, no saving
        else:
            values = numpy_helper.from_array(flat[nonzero], tensor.name)
            indices = numpy_helper.from_array(nonzero.astype(np.int64), f"{tensor.name}.indices")
            graph.sparse_initializer.append(
                helper.make_sparse_tensor(values, indices, list(array.shape))
            )
            moved.append(tensor.name)
    if moved:
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return moved


def _write_bytes(path: Path, data: bytes) -> Path:
    from headkit.io import atomic_write_text

    if path.is_dir():
        raise ExportError(f"{path} is a directory; give a file name such as model.onnx.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, data)

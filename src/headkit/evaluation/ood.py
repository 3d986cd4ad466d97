"""Out-of-distribution and misclassification scores, and the metrics that judge them.

**Sign convention: every score is higher for inputs that look more in-distribution** (more
confident). The energy score is therefore the *negative* free energy,
``−E(x) = T·logsumexp(z/T)`` (Liu et al. 2020 call ``E(x) = −T·logsumexp(z/T)`` the energy and
flag inputs with high energy as OOD), and the Mahalanobis score is the *negative* smallest
squared distance to a class mean (Lee et al. 2018). Detection metrics treat the
in-distribution (or correctly classified) samples as the positive class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from sklearn import metrics as skm

from headkit.evaluation._arrays import check_1d, check_labels, check_scores, to_numpy
from headkit.exceptions import DataError, ModelFileError, NotFittedError

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet

LOGIT_SCORES = ("msp", "max_logit", "energy")
OodMethod = Literal["msp", "max_logit", "energy", "mahalanobis"]


def msp_score(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Maximum softmax probability ``max_k softmax(z/T)_k`` (Hendrycks & Gimpel 2017), (N,)."""
    z = torch.as_tensor(check_scores(logits, "logits"))
    return torch.softmax(z / temperature, dim=-1).amax(dim=-1).numpy()


def max_logit_score(logits: Any) -> np.ndarray:
    """Largest logit ``max_k z_k`` (Hendrycks et al. 2022, "Scaling OOD detection"), (N,)."""
    return check_scores(logits, "logits").max(axis=1)


def energy_score(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Negative energy ``T·logsumexp(z/T)`` (Liu et al. 2020), (N,); higher = in-distribution."""
    if temperature <= 0:
        raise DataError(f"temperature must be > 0; got {temperature}.")
    z = torch.as_tensor(check_scores(logits, "logits"))
    return (temperature * torch.logsumexp(z / temperature, dim=-1)).numpy()


def logit_score(logits: Any, method: str = "energy") -> np.ndarray:
    """Dispatch to :func:`msp_score`, :func:`max_logit_score` or :func:`energy_score` by name.

    ``msp`` here is that of ``softmax(z)``; for a fitted network use the maximum of its own
    probabilities (``HeadNet.probabilities``), which is what the estimator's ``ood_score`` does.
    """
    if method == "msp":
        return msp_score(logits)
    if method == "max_logit":
        return max_logit_score(logits)
    if method == "energy":
        return energy_score(logits)
    raise DataError(
        f"Unknown OOD score {method!r}; choose one of msp, max_logit, energy, mahalanobis."
    )


def network_ood_score(
    net: HeadNet, X: np.ndarray, method: str, detector: MahalanobisDetector | None = None
) -> np.ndarray:
    """Return a network's OOD score of rows X (N, F), shape (N,); higher = in-distribution.

    ``msp`` is the largest of the network's own probabilities (:meth:`HeadNet.probabilities`:
    its output map and calibration temperature apply), which :func:`headkit.inference.forward.predict_arrays`
    evaluates in float64: in float32 the top probability of every confident row rounds to
    exactly 1, and those ties lower its AUROC (0.915 on digits 0–4 vs 5–9 in float64,
    ``benchmarks/results/ood.md``). ``max_logit`` and ``energy`` read the logits;
    ``mahalanobis`` scores the penultimate features with ``detector``.
    """
    from headkit.inference.forward import penultimate_features, predict_arrays

    if method == "mahalanobis":
        if detector is None:
            raise NotFittedError(
                "This model has no Mahalanobis statistics (saved by an older headkit or "
                "trained with partial_fit); refit it with fit()."
            )
        return detector.score(penultimate_features(net, X))
    prediction = predict_arrays(net, X)  # probabilities in float64 (see predict_arrays)
    if method == "msp":
        return prediction.proba.max(-1).values.numpy()
    return logit_score(prediction.logits, method)


class MahalanobisDetector:
    """Class-conditional Gaussian with a shared covariance on features (Lee et al. 2018).

    ``fit`` estimates the class means μ_c and the pooled within-class covariance
    Σ = (1/N) Σ_i (f_i − μ_{y_i})(f_i − μ_{y_i})ᵀ (+ ``reg``·I); the precision is the
    Moore–Penrose pseudo-inverse, so dead (constant) feature units are harmless.
    ``score(f) = −min_c (f − μ_c)ᵀ Σ⁻¹ (f − μ_c)`` (higher = in-distribution; the input
    pre-processing and layer ensemble of the paper are not used).

    Parameters
    ----------
    reg : float
        Ridge added to the covariance's diagonal, relative to its mean diagonal entry.
    """

    _SAVED = ("classes", "means", "covariance", "precision")  # fitted arrays, in the saved file

    def __init__(self, reg: float = 0.0) -> None:
        self.reg = reg

    def fit(self, features: Any, y: Any) -> MahalanobisDetector:
        """Estimate class means (C, D) and the shared precision matrix (D, D) from features."""
        f = check_scores(features, "features")
        labels = check_labels(y, f.shape[0], "y")
        classes = np.unique(labels)
        if len(classes) < 1:
            raise DataError("MahalanobisDetector.fit needs at least one sample.")
        means = np.stack([f[labels == c].mean(axis=0) for c in classes])
        centred = f - means[np.searchsorted(classes, labels)]
        cov = centred.T @ centred / f.shape[0]
        if self.reg > 0:
            cov = cov + self.reg * max(np.trace(cov) / cov.shape[0], 1e-12) * np.eye(cov.shape[0])
        self.classes_ = classes
        self.means_ = means
        self.covariance_ = cov
        self.precision_ = np.linalg.pinv(cov, hermitian=True)
        return self

    def distances(self, features: Any) -> np.ndarray:
        """Squared Mahalanobis distance to every class mean, shape (N, C)."""
        if not hasattr(self, "precision_"):
            raise NotFittedError("Call MahalanobisDetector.fit(features, y) before scoring.")
        f = check_scores(features, "features")
        if f.shape[1] != self.means_.shape[1]:
            raise DataError(
                f"features have {f.shape[1]} columns but the detector was fitted on "
                f"{self.means_.shape[1]}."
            )
        # (f−μ)ᵀP(f−μ) = fᵀPf − 2 fᵀPμ + μᵀPμ, evaluated for all classes at once.
        fp = f @ self.precision_
        quad_f = np.einsum("nd,nd->n", fp, f)
        quad_m = np.einsum("cd,de,ce->c", self.means_, self.precision_, self.means_)
        d = quad_f[:, None] - 2.0 * fp @ self.means_.T + quad_m[None, :]
        return np.maximum(d, 0.0)

    def score(self, features: Any) -> np.ndarray:
        """Return ``−min_c d_c(f)``, shape (N,); higher = more in-distribution."""
        return -self.distances(features).min(axis=1)

    def to_bytes(self) -> bytes:
        """Serialise the fitted statistics with safetensors (no pickle)."""
        from safetensors.numpy import save

        arrays = {name: getattr(self, f"{name}_") for name in self._SAVED}
        arrays["classes"] = np.asarray(arrays["classes"], dtype=np.int64)
        return save({k: np.ascontiguousarray(v) for k, v in arrays.items()})

    @classmethod
    def load(cls, path: Path) -> MahalanobisDetector | None:
        """Rebuild a detector saved by :meth:`to_bytes`, or ``None`` when ``path`` is absent.

        Raises
        ------
        ModelFileError
            When the file is unreadable.
        """
        if not path.is_file():
            return None
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(path))
        except Exception as error:  # safetensors raises its own error types
            raise ModelFileError(f"{path} is corrupt ({error}); retrain the model.") from None
        detector = cls()
        for name in cls._SAVED:
            setattr(detector, f"{name}_", arrays[name])
        return detector


def fpr_at_tpr(scores_in: Any, scores_out: Any, tpr: float = 0.95) -> float:
    """False-positive rate on ``scores_out`` at the threshold keeping ``tpr`` of ``scores_in``.

    The threshold t is the largest value with ``mean(scores_in >= t) >= tpr``; the result is
    ``mean(scores_out >= t)`` (an OOD sample scoring at or above t is accepted: a false positive).
    """
    s_in = check_1d(scores_in, "scores_in")
    s_out = check_1d(scores_out, "scores_out")
    if len(s_in) == 0 or len(s_out) == 0:
        raise DataError("FPR at TPR needs at least one in- and one out-of-distribution score.")
    desc = np.sort(s_in)[::-1]
    k = int(np.ceil(tpr * len(desc))) - 1
    threshold = desc[max(k, 0)]
    return float(np.mean(s_out >= threshold))


def ood_metrics(scores_in: Any, scores_out: Any) -> dict[str, float]:
    """AUROC, AUPR (in-distribution positive), AUPR-out and FPR at 95 % TPR.

    Parameters
    ----------
    scores_in, scores_out : array-like, shapes (N_in,), (N_out,)
        Scores of in-distribution (positive) and out-of-distribution samples, higher = more
        in-distribution.

    Returns
    -------
    dict
        ``auroc``, ``aupr`` (= ``aupr_in``), ``aupr_out``, ``fpr95``, ``n_in``, ``n_out``.
    """
    s_in = check_1d(scores_in, "scores_in")
    s_out = check_1d(scores_out, "scores_out")
    if len(s_in) == 0 or len(s_out) == 0:
        raise DataError("OOD metrics need at least one in- and one out-of-distribution score.")
    y = np.concatenate([np.ones(len(s_in)), np.zeros(len(s_out))])
    s = np.concatenate([s_in, s_out])
    return {
        "auroc": float(skm.roc_auc_score(y, s)),
        "aupr": float(skm.average_precision_score(y, s)),
        "aupr_out": float(skm.average_precision_score(1 - y, -s)),
        "fpr95": fpr_at_tpr(s_in, s_out, 0.95),
        "n_in": len(s_in),
        "n_out": len(s_out),
    }


def misclassification_metrics(y_true: Any, proba: Any, scores: Any) -> dict[str, float]:
    """The :func:`ood_metrics` of correctly classified (positive) vs misclassified samples.

    ``proba`` (N, C) decides correctness by its argmax; ``scores`` (N,) are the confidence
    scores judged. Returns NaN metrics when every sample is right (or every one wrong).
    """
    s = check_1d(scores, "scores")
    pred = to_numpy(proba).argmax(axis=1)
    y = check_labels(y_true, len(pred))
    correct = pred == y
    if correct.all() or not correct.any():
        nan = float("nan")
        return {"auroc": nan, "aupr": nan, "aupr_out": nan, "fpr95": nan,
                "n_in": int(correct.sum()), "n_out": int((~correct).sum())}  # fmt: skip
    return ood_metrics(s[correct], s[~correct])

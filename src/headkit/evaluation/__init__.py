"""Know your classifier: metrics, calibration, OOD scores, neural collapse and layer similarity.

Every function takes NumPy arrays or torch tensors, labels first and scores second, like
:mod:`sklearn.metrics`, and returns floats or NumPy arrays.
"""

from headkit.evaluation.block_importance import BLOCK_CRITERIA, block_importance, void_blocks
from headkit.evaluation.calibration import fit_temperature, temperature_scale
from headkit.evaluation.collapse import (
    class_means,
    collapse_of_network,
    nc1,
    nc2,
    nc3,
    nc4,
    neural_collapse,
)
from headkit.evaluation.depth import depth_width_report, preactivation_second_moments
from headkit.evaluation.layer_diagnostics import (
    gradient_norms,
    knn_accuracy,
    layer_diagnostics,
    layer_quality,
    spectra,
)
from headkit.evaluation.leakage import last_layer_leakage
from headkit.evaluation.metrics import (
    accuracy,
    brier_score,
    classification_report,
    confusion_matrix,
    f1,
    negative_log_likelihood,
    precision_recall,
    top_k_accuracy,
)
from headkit.evaluation.multiplicity import ensemble_t_similarity, predictive_multiplicity
from headkit.evaluation.ood import (
    MahalanobisDetector,
    energy_score,
    fpr_at_tpr,
    logit_score,
    max_logit_score,
    misclassification_metrics,
    msp_score,
    ood_metrics,
)
from headkit.evaluation.reliability import (
    ReliabilityCurve,
    expected_calibration_error,
    max_calibration_error,
    reliability_curve,
)
from headkit.evaluation.representation import (
    anisotropy,
    effective_rank,
    matrix_entropy,
    mean_cosine,
    numerical_rank,
    output_entropy,
    probe_accuracy,
    singular_values,
    softmax_bottleneck,
)
from headkit.evaluation.robustness import deepfool_robustness
from headkit.evaluation.similarity import block_redundancy, cka_matrix, linear_cka
from headkit.evaluation.summary import summary_metrics

__all__ = [
    "BLOCK_CRITERIA",
    "block_importance",
    "void_blocks",
    "MahalanobisDetector",
    "ReliabilityCurve",
    "accuracy",
    "block_redundancy",
    "brier_score",
    "cka_matrix",
    "class_means",
    "classification_report",
    "collapse_of_network",
    "confusion_matrix",
    "depth_width_report",
    "energy_score",
    "expected_calibration_error",
    "f1",
    "fit_temperature",
    "fpr_at_tpr",
    "linear_cka",
    "logit_score",
    "max_calibration_error",
    "max_logit_score",
    "misclassification_metrics",
    "msp_score",
    "nc1",
    "nc2",
    "nc3",
    "nc4",
    "negative_log_likelihood",
    "neural_collapse",
    "preactivation_second_moments",
    "ood_metrics",
    "precision_recall",
    "reliability_curve",
    "summary_metrics",
    "temperature_scale",
    "top_k_accuracy",
]

__all__ += [
    "anisotropy",
    "deepfool_robustness",
    "effective_rank",
    "ensemble_t_similarity",
    "gradient_norms",
    "knn_accuracy",
    "last_layer_leakage",
    "layer_diagnostics",
    "layer_quality",
    "matrix_entropy",
    "mean_cosine",
    "numerical_rank",
    "output_entropy",
    "predictive_multiplicity",
    "probe_accuracy",
    "singular_values",
    "softmax_bottleneck",
    "spectra",
]

"""Pure tensor functions: the techniques themselves, with no module state.

Every function documents its shape contract and honours ``dim`` where it has one.
"""

from headkit.functional.acquisition import (
    clip_outliers,
    least_confidence,
    margin,
    select_queries,
)
from headkit.functional.activations import mish, mish_derivative
from headkit.functional.adaptive_margin import adaptive_scale_margin
from headkit.functional.block_importance import (
    angular_distance,
    cosine_importance,
    l2_norm_change,
    void_mask,
)
from headkit.functional.criticality import (
    aspect_ratio,
    critical_constants,
    critical_normal_,
    residual_add,
    residual_variance_gain,
)
from headkit.functional.dropout import (
    drop_connect,
    dropout,
    dropout_mask,
    gaussian_dropout,
    gaussian_noise,
    linear_dropconnect,
    multi_sample_dropout,
)
from headkit.functional.ensemble import ambiguity, discrepancy, probability_range, t_similarity
from headkit.functional.fenchel_young import fenchel_young_loss, tsallis_entropy
from headkit.functional.gated import GATES, gated_linear
from headkit.functional.gradient_identity import (
    recover_head_input,
    recover_softmax_target,
    softmax_ce_head_gradients,
)
from headkit.functional.input_gates import (
    gate_penalty,
    optfs_beta,
    optfs_gates,
    stochastic_gate_open_probability,
    stochastic_gates,
)
from headkit.functional.knowledge_transfer import naive_sampled_label_ce, sampled_label_logit_loss
from headkit.functional.layer_drop import (
    early_exit_weights,
    first_confident_exit,
    layer_drop_rates,
)
from headkit.functional.linear_ce import linear_cross_entropy
from headkit.functional.loss_variants import (
    bias_loss_weights,
    log_z_penalty,
    maxsup_penalty,
    noisy_target_logits,
    spherical_z_loss,
)
from headkit.functional.losses import (
    cross_entropy,
    distillation_loss,
    nll_loss,
    one_vs_all_loss,
    smooth_targets,
)
from headkit.functional.low_rank import low_rank_linear
from headkit.functional.margins import (
    arcface_logits,
    cosface_logits,
    cosine_logits,
    cosine_similarity,
    equiangular_basis_vectors,
    simplex_etf,
    sphereface2_loss,
    sphereface_logits,
)
from headkit.functional.masking import mask_logits, present_classes
from headkit.functional.mixing import (
    cutmix,
    cutmix_segment,
    mix_targets,
    mixed_loss,
    mixup,
    sample_mixing,
)
from headkit.functional.mixture import (
    load_balancing_loss,
    moe_linear,
    sample_gumbel,
    top_k_gates,
)
from headkit.functional.multilabel import decoupled_softmax_loss, soft_top_k, soft_top_k_loss
from headkit.functional.neighbors import knn_votes, nearest_mean_logits, update_class_means
from headkit.functional.nested_dropout import nested_dropout, nested_dropout_mask, sample_nested_cut
from headkit.functional.online_softmax import (
    merge_normalizers,
    online_logsumexp,
    online_normalizer,
    online_softmax,
    softmax_topk,
)
from headkit.functional.orthogonal_gradient import orthogonal_gradient, project_gradients_
from headkit.functional.random_features import random_features, ridge_solve, sample_random_weights
from headkit.functional.regularizers import norm_loss
from headkit.functional.robustness import DeepFoolResult, deepfool
from headkit.functional.softmax import (
    gumbel_softmax,
    gumbel_temperature,
    log_power_softmax,
    log_scalable_softmax,
    log_softmax,
    power_softmax,
    scalable_softmax,
    sigmoid,
    softmax,
)
from headkit.functional.softmax_variants import (
    adaptive_beta,
    adaptive_temperature_log_softmax,
    adaptive_temperature_softmax,
    log_softmax1,
    none_mass,
    softmax1,
)
from headkit.functional.sparse import entmax15, entmax_bisect, sparsemax
from headkit.functional.sparsity import cubic_sparsity, erk_densities, magnitude_mask, random_mask
from headkit.functional.stablemax import (
    log_stablemax,
    softmax_collapse_fraction,
    softmax_collapse_mask,
    stablemax,
    stablemax_s,
)
from headkit.functional.temperature import (
    best_temperature,
    confidence_temperature,
    temperature_nll,
)

__all__ = [
    "early_exit_weights",
    "first_confident_exit",
    "layer_drop_rates",
    "load_balancing_loss",
    "moe_linear",
    "sample_gumbel",
    "top_k_gates",
    "gate_penalty",
    "optfs_beta",
    "optfs_gates",
    "stochastic_gate_open_probability",
    "stochastic_gates",
    "ambiguity",
    "discrepancy",
    "probability_range",
    "t_similarity",
    "cubic_sparsity",
    "erk_densities",
    "magnitude_mask",
    "random_mask",
    "low_rank_linear",
    "orthogonal_gradient",
    "project_gradients_",
    "clip_outliers",
    "least_confidence",
    "margin",
    "select_queries",
    "adaptive_beta",
    "adaptive_temperature_log_softmax",
    "adaptive_temperature_softmax",
    "log_softmax1",
    "none_mass",
    "softmax1",
    "GATES",
    "adaptive_scale_margin",
    "angular_distance",
    "arcface_logits",
    "aspect_ratio",
    "best_temperature",
    "confidence_temperature",
    "bias_loss_weights",
    "cosface_logits",
    "cosine_importance",
    "cosine_logits",
    "cosine_similarity",
    "critical_constants",
    "critical_normal_",
    "cross_entropy",
    "cutmix",
    "cutmix_segment",
    "decoupled_softmax_loss",
    "deepfool",
    "DeepFoolResult",
    "distillation_loss",
    "drop_connect",
    "dropout",
    "dropout_mask",
    "entmax15",
    "entmax_bisect",
    "equiangular_basis_vectors",
    "fenchel_young_loss",
    "gaussian_dropout",
    "gaussian_noise",
    "gated_linear",
    "gumbel_softmax",
    "gumbel_temperature",
    "knn_votes",
    "l2_norm_change",
    "linear_cross_entropy",
    "linear_dropconnect",
    "log_power_softmax",
    "log_scalable_softmax",
    "log_softmax",
    "log_stablemax",
    "log_z_penalty",
    "mask_logits",
    "maxsup_penalty",
    "merge_normalizers",
    "mish",
    "mish_derivative",
    "mix_targets",
    "mixed_loss",
    "mixup",
    "multi_sample_dropout",
    "naive_sampled_label_ce",
    "nearest_mean_logits",
    "nested_dropout",
    "nested_dropout_mask",
    "nll_loss",
    "noisy_target_logits",
    "norm_loss",
    "one_vs_all_loss",
    "online_logsumexp",
    "online_normalizer",
    "online_softmax",
    "power_softmax",
    "present_classes",
    "random_features",
    "recover_head_input",
    "recover_softmax_target",
    "residual_add",
    "residual_variance_gain",
    "ridge_solve",
    "sample_mixing",
    "sample_nested_cut",
    "sampled_label_logit_loss",
    "sample_random_weights",
    "scalable_softmax",
    "sigmoid",
    "simplex_etf",
    "smooth_targets",
    "soft_top_k",
    "soft_top_k_loss",
    "softmax",
    "softmax_ce_head_gradients",
    "softmax_collapse_fraction",
    "softmax_collapse_mask",
    "softmax_topk",
    "sparsemax",
    "sphereface2_loss",
    "sphereface_logits",
    "spherical_z_loss",
    "stablemax",
    "stablemax_s",
    "temperature_nll",
    "tsallis_entropy",
    "update_class_means",
    "void_mask",
]

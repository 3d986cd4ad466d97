"""``nn.Module`` layers: thin holders of parameters over :mod:`headkit.functional`.

Importing this package fills the registries (dropout kinds, heads, output maps, losses).
"""

from headkit.nn.activations import (
    ACTIVATIONS,
    Activation,
    ActivationInfo,
    PReLU,
    activation_info,
    make_activation,
)
from headkit.nn.chunked import LinearCrossEntropyHead
from headkit.nn.dense import DenseBlock, DenseStack
from headkit.nn.dropout import (
    DROPOUTS,
    DropConnectLinear,
    Dropout,
    DropoutPlan,
    GaussianDropout,
    GaussianNoise,
    MultiSampleDropout,
    NestedDropout,
    build_dropout,
)
from headkit.nn.heads import HEADS, LinearHead
from headkit.nn.losses import LOSSES, CrossEntropyLoss
from headkit.nn.network import HeadNet, truncate_rank
from headkit.nn.online_softmax import OnlineSoftmax
from headkit.nn.outputs import OUTPUTS, Softmax
from headkit.nn.partial_fc import PartialFC, RowSparseSGD
from headkit.nn.sharded import ShardedLinearHead
from headkit.nn.uncertainty import MCPrediction, mc_predict

__all__ = [
    "truncate_rank",
    "ACTIVATIONS",
    "Activation",
    "ActivationInfo",
    "PReLU",
    "activation_info",
    "make_activation",
    "DROPOUTS",
    "HEADS",
    "LOSSES",
    "OUTPUTS",
    "CrossEntropyLoss",
    "DenseBlock",
    "DenseStack",
    "DropConnectLinear",
    "Dropout",
    "DropoutPlan",
    "GaussianDropout",
    "EnsembleHead",
    "GatedLinear",
    "GaussianNoise",
    "LowRankLinear",
    "HeadNet",
    "LinearHead",
    "MCPrediction",
    "MultiSampleDropout",
    "NestedDropout",
    "OnlineSoftmax",
    "Softmax",
    "build_dropout",
    "mc_predict",
    "LinearCrossEntropyHead",
    "PartialFC",
    "RowSparseSGD",
    "ShardedLinearHead",
]

# Margin and fixed heads, output maps and loss variants; importing loss_variants registers them.
from headkit.nn.deep_supervision import DeepSupervisionLoss
from headkit.nn.ensemble_head import EnsembleHead
from headkit.nn.gated import BLOCKS, GatedLinear
from headkit.nn.heads import (
    ArcFaceHead,
    CosFaceHead,
    CosineHead,
    FixedHead,
    SphereFace2Head,
    SphereFaceHead,
)
from headkit.nn.init import INITS
from headkit.nn.input_gates import INPUT_GATES, InputGates, OptFSGates, StochasticGates
from headkit.nn.layer_drop import LAYER_DROPS, LayerSkip, early_exit_predict
from headkit.nn.loss_variants import (
    BiasLoss,
    DistillationLoss,
    LabelSmoothingLoss,
    MaxSupLoss,
    NoisySoftmaxLoss,
    SphericalZLoss,
    ZLoss,
)
from headkit.nn.losses import (
    FenchelYoungLoss,
    NLLLoss,
    OneVsAllLoss,
)
from headkit.nn.low_rank import LowRankLinear
from headkit.nn.masking import MaskedLoss, masked_probabilities
from headkit.nn.memory_heads import KNNHead, NearestMeanHead
from headkit.nn.mixture import MoELinear
from headkit.nn.multilabel_losses import DecoupledSoftmaxLoss, SoftTopKLoss
from headkit.nn.outputs import (
    Entmax15,
    EntmaxBisect,
    GumbelSoftmax,
    PowerSoftmax,
    ScalableSoftmax,
    Sigmoid,
    Sparsemax,
)
from headkit.nn.random_features import RandomFeatureHead, RandomFeatures
from headkit.nn.residual import RESIDUALS, ResidualScale
from headkit.nn.stablemax import StableMax
from headkit.nn.weight_penalties import NormLoss

__all__ += [
    "ArcFaceHead",
    "BiasLoss",
    "CosFaceHead",
    "CosineHead",
    "DistillationLoss",
    "Entmax15",
    "EntmaxBisect",
    "FenchelYoungLoss",
    "FixedHead",
    "GumbelSoftmax",
    "LabelSmoothingLoss",
    "MaxSupLoss",
    "NLLLoss",
    "NoisySoftmaxLoss",
    "OneVsAllLoss",
    "PowerSoftmax",
    "ScalableSoftmax",
    "Sigmoid",
    "Sparsemax",
    "SphereFace2Head",
    "SphereFaceHead",
    "SphericalZLoss",
    "ZLoss",
]

# Memory heads, multi-label losses and weight penalties.
__all__ += ["DecoupledSoftmaxLoss", "KNNHead", "NearestMeanHead", "NormLoss", "SoftTopKLoss"]
# Residual scaling, critical init, random features, StableMax, logit masking, deep supervision;
# importing these modules registers their names.
__all__ += [
    "BLOCKS",
    "INITS",
    "INPUT_GATES",
    "InputGates",
    "LAYER_DROPS",
    "LayerSkip",
    "early_exit_predict",
    "MoELinear",
    "OptFSGates",
    "StochasticGates",
    "RESIDUALS",
    "DeepSupervisionLoss",
    "MaskedLoss",
    "RandomFeatureHead",
    "RandomFeatures",
    "ResidualScale",
    "StableMax",
    "masked_probabilities",
]

"""``nn.Module`` layers: thin holders of parameters over :mod:`headkit.functional`.

Importing this package fills the registries (dropout kinds, heads, output maps, losses).
"""

from headkit.nn.chunked import LinearCrossEntropyHead
from headkit.nn.dense import DenseBlock, DenseStack
from headkit.nn.dropout import (
    DROPOUTS,
    DropConnectLinear,
    Dropout,
    DropoutPlan,
    GaussianDropout,
    MultiSampleDropout,
    NestedDropout,
    build_dropout,
)
from headkit.nn.heads import HEADS, LinearHead
from headkit.nn.losses import LOSSES, CrossEntropyLoss
from headkit.nn.network import HeadNet
from headkit.nn.outputs import OUTPUTS, Softmax
from headkit.nn.partial_fc import PartialFC, RowSparseSGD
from headkit.nn.sharded import ShardedLinearHead
from headkit.nn.uncertainty import MCPrediction, mc_predict

__all__ = [
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
    "HeadNet",
    "LinearHead",
    "MCPrediction",
    "MultiSampleDropout",
    "NestedDropout",
    "Softmax",
    "build_dropout",
    "mc_predict",
    "LinearCrossEntropyHead",
    "PartialFC",
    "RowSparseSGD",
    "ShardedLinearHead",
]

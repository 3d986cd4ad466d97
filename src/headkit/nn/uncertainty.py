"""MC-dropout prediction (Gal & Ghahramani 2016): predictive mean and uncertainty.

T stochastic forward passes with the dropout modules switched on and everything else (BatchNorm
statistics, nested-dropout truncation) in eval mode. The predictive distribution is the mean of the
T probability vectors; its entropy splits into the expected entropy of the passes (aleatoric) and
the mutual information between the prediction and the weights (epistemic, BALD):

    H[p̄] = E_t H[p_t] + I,   p̄ = (1/T) Σ_t p_t.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from headkit.nn.network import HeadNet


class MCPrediction(NamedTuple):
    """Result of :func:`mc_predict`.

    Attributes
    ----------
    proba : Tensor, shape (N, C)
        Mean probabilities over the passes.
    entropy : Tensor, shape (N,)
        Predictive entropy H[p̄] in nats.
    expected_entropy : Tensor, shape (N,)
        Mean entropy of the individual passes, E_t H[p_t].
    mutual_information : Tensor, shape (N,)
        H[p̄] − E_t H[p_t] ≥ 0.
    """

    proba: Tensor
    entropy: Tensor
    expected_entropy: Tensor
    mutual_information: Tensor


def _entropy(p: Tensor) -> Tensor:
    return -(p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))).sum(-1)


def _proba(model: nn.Module, x: Tensor) -> Tensor:
    """Probabilities of one pass, shape (S, N, C) with S = 1 or the multi-sample k."""
    proba = model.predict_proba(x) if isinstance(model, HeadNet) else torch.softmax(model(x), -1)
    proba = proba.float()
    return proba if proba.dim() == 3 else proba.unsqueeze(0)


@torch.no_grad()
def mc_predict(model: nn.Module, x: Tensor, samples: int = 30) -> MCPrediction:
    """Predict with MC dropout: average ``samples`` stochastic passes.

    ``samples=1`` is the ordinary deterministic prediction (dropout off, mutual information 0),
    so ``mc_predict(model, x, 1).proba`` equals ``model.predict_proba(x)`` in eval mode. For
    ``samples >= 2``, modules with ``mc_dropout`` true (standard, multi-sample and Gaussian
    dropout, DropConnect, ``torch.nn.Dropout``) sample; a multi-sample module contributes its k
    masks per pass. The model's train/eval modes are restored afterwards.

    Parameters
    ----------
    model : nn.Module
        A :class:`headkit.nn.HeadNet` (uses ``predict_proba``, so the output map and temperature
        apply) or any module returning logits (softmax is applied).
    x : Tensor, shape (N, n_features)
        Inputs.
    samples : int
        Number of passes T ≥ 1.

    Returns
    -------
    MCPrediction
        Mean probabilities (N, C), entropy, expected entropy and mutual information (N,).
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1; got {samples!r}.")
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        if samples > 1:
            for module in model.modules():
                if is_mc_module(module):
                    module.train()
        passes = torch.cat([_proba(model, x) for _ in range(samples)])
    finally:
        for module, mode in modes.items():
            module.training = mode
    mean = passes.mean(0)
    entropy = _entropy(mean)
    expected = _entropy(passes).mean(0)
    return MCPrediction(mean, entropy, expected, (entropy - expected).clamp_min(0.0))


def is_mc_module(module: nn.Module) -> bool:
    """Return whether MC-dropout prediction should keep ``module`` stochastic.

    A module declares it with the :class:`headkit.protocols.MCDropout` flag ``mc_dropout``;
    torch's own dropout modules count too.
    """
    explicit = getattr(type(module), "mc_dropout", None)
    if explicit is not None:
        return bool(explicit)
    return isinstance(module, nn.modules.dropout._DropoutNd)

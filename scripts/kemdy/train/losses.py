"""Training losses and the matching class probabilities.

- ce: cross-entropy on the label.
- soft_bce: the original class-weighted sigmoid loss (MultiLabelSoftMarginLoss) on the soft
  scores, weight_c = 1 - n_c / sum(n), n_c = (count of class c) x (mean score of class c).
- focal: focal loss on the label, -(1 - p_t)^gamma log p_t.
- soft_focal: focal loss on the soft targets q (TMN's loss on its vote distributions): per
  segment the cross-entropy CE = -sum_c q_c log p_c, weighted by (1 - exp(-CE))^gamma. With
  a one-hot q, exp(-CE) = p_t and this is `focal`; gamma 0 is the soft cross-entropy. The
  weight grows with CE, so each segment's loss is still smallest at p = q (hard segments
  weigh more, the target is not distorted). TMN weights the batch's mean CE instead, one
  factor for the whole batch; here each segment gets its own.

soft_bce and soft_focal train on the soft targets, which target_sharpening may sharpen
(kemdy.train.data.peakl); ce and focal on the label alone.

With va_weight > 0 the valence/arousal output adds va_weight x a loss chosen by va_loss:
`ccc` (default), the mean over valence and arousal of 1 - CCC, the concordance correlation
coefficient on the batch (the measure the field reports, so the loss optimises it directly;
a batch-level statistic); `mse`, the mean squared error on the 1-5 rating scale (TMN's; per
segment, so it also trains on a batch with one rated segment).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kemdy.spec import LOSSES, SOFT_LOSSES, VA_LOSSES


def class_weights(labels, soft) -> np.ndarray:
    """weight_c = 1 - n_c / sum(n), n_c = count of label c x mean of score column c.

    Counts are indexed by class (bincount), never in frequency order: the original took an
    unsorted value count, so each weight landed on the wrong class.
    labels: (n,) class indices; soft: (n, k) scores, column c belonging to class c.
    """
    soft = np.asarray(soft, dtype=np.float64)
    counts = np.bincount(np.asarray(labels), minlength=soft.shape[1])
    n = counts * soft.mean(axis=0)
    return (1.0 - n / n.sum()).astype(np.float32)


class FocalLoss(nn.Module):
    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits, y):
        logp = F.log_softmax(logits.float(), dim=-1).gather(1, y[:, None]).squeeze(1)
        return (-(1.0 - logp.exp()) ** self.gamma * logp).mean()


class SoftFocalLoss(nn.Module):
    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits, q):
        ce = -(q.float() * F.log_softmax(logits.float(), dim=-1)).sum(-1)
        return ((1.0 - torch.exp(-ce)) ** self.gamma * ce).mean()


def ccc(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Concordance correlation coefficient of each column of (n, k) predictions."""
    pred, target = pred.float(), target.float()
    mp, mt = pred.mean(0), target.mean(0)
    cov = ((pred - mp) * (target - mt)).mean(0)
    return 2 * cov / (pred.var(0, unbiased=False) + target.var(0, unbiased=False)
                      + (mp - mt) ** 2).clamp(min=1e-8)


class Criterion(nn.Module):
    """One loss behind one call: criterion((logits, va), batch) with batch['y'],
    batch['soft'] and, for a valence/arousal model, batch['va']."""

    def __init__(self, kind: str, weights=None, gamma: float = 2.0, va_weight: float = 0.0,
                 va_loss: str = "ccc"):
        super().__init__()
        if kind not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {kind!r}")
        if va_loss not in VA_LOSSES:
            raise ValueError(f"va_loss must be one of {VA_LOSSES}, not {va_loss!r}")
        self.kind, self.va_weight, self.va_loss = kind, float(va_weight), va_loss
        if kind == "ce":
            self.loss = nn.CrossEntropyLoss()
        elif kind == "focal":
            self.loss = FocalLoss(gamma)
        elif kind == "soft_focal":
            self.loss = SoftFocalLoss(gamma)
        else:  # soft_bce: its class weights go with the logits (see forward)
            w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
            self.register_buffer("weight", w)
            self.loss = None

    def forward(self, outputs, batch):
        logits, va = outputs if isinstance(outputs, tuple) else (outputs, None)
        if self.kind == "soft_bce":
            # The weights follow the logits' device: built on the CPU from the training rows,
            # they crashed every soft_bce job on a GPU (found by the GPU check, 2026-12-04).
            weight = None if self.weight is None else self.weight.to(logits.device)
            loss = F.multilabel_soft_margin_loss(logits.float(), batch["soft"].float(),
                                                 weight=weight)
        elif self.kind in SOFT_LOSSES:
            loss = self.loss(logits.float(), batch["soft"].float())
        else:
            loss = self.loss(logits.float(), batch["y"])
        if va is not None and self.va_weight:
            rated = torch.isfinite(batch["va"]).all(-1)  # segments without ratings add nothing
            if self.va_loss == "mse" and bool(rated.any()):
                loss = loss + self.va_weight * F.mse_loss(va[rated].float(),
                                                          batch["va"][rated].float())
            elif self.va_loss == "ccc" and int(rated.sum()) > 1:  # CCC needs two segments
                loss = loss + self.va_weight * (1.0 - ccc(va[rated], batch["va"][rated])).mean()
        return loss


def probabilities(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities: softmax for ce / focal / soft_focal; for soft_bce the sigmoid outputs
    normalised to sum to 1 (the argmax is the same as the sigmoid's)."""
    logits = logits.float()
    if kind == "soft_bce":
        p = torch.sigmoid(logits)
        return p / p.sum(dim=-1, keepdim=True).clamp(min=1e-12)
    return torch.softmax(logits, dim=-1)


def make_criterion(spec: dict, y_train, soft_train) -> Criterion:
    """The spec's loss; soft_bce's class weights come from the training rows only (from
    their targets as trained on: sharpened, with target_sharpening)."""
    kind = spec["loss"]
    weights = class_weights(y_train, soft_train) if kind == "soft_bce" else None
    return Criterion(kind, weights=weights, gamma=float(spec.get("focal_gamma", 2.0)),
                     va_weight=float(spec.get("va_weight", 0.0)),
                     va_loss=spec.get("va_loss", "ccc"))

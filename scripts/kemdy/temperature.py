"""Fitting the temperature of `calibrate: temperature` (kemdy.train.calibration), numpy
only: the report refits each job's T from the validation probabilities metrics.json keeps.

T minimises the validation negative log-likelihood of softmax(log p / T) over log T in
[log 0.05, log 20] by golden-section search: the NLL is convex in 1/T, so it has one minimum
along log T and the search finds it, the same on every machine and rank (float64).
"""

from __future__ import annotations

import math

import numpy as np

from kemdy.metrics import PROB_FLOOR, nll, temperature_scaled

BOUNDS = (0.05, 20.0)  # T beyond these: the fit is at its bound and the log says so
TOLERANCE = 1e-6  # width of the final log T bracket


def fit_temperature(probs: np.ndarray, y: np.ndarray, bounds=BOUNDS,
                    tol: float = TOLERANCE) -> float:
    """The T in `bounds` minimising nll(softmax(log p / T), y): golden-section search over
    log T. probs (n, k) as the model gives them, y (n,) the labels' columns."""
    probs = np.maximum(np.asarray(probs, dtype=float), PROB_FLOOR)
    y = np.asarray(y, dtype=int)

    def loss(log_t: float) -> float:
        return nll(temperature_scaled(probs, math.exp(log_t)), y)

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = math.log(bounds[0]), math.log(bounds[1])
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    while b - a > tol:
        if fc <= fd:  # the minimum lies in [a, d]
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:  # in [c, b]
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return math.exp((a + b) / 2.0)

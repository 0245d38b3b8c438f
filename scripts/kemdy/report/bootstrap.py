"""Session bootstrap: the paired difference between two variants on the same segments
(paired_bootstrap) and one variant's interval (bootstrap_interval), resampling whole
sessions (segments of a session share speakers and a recording), and the seeds of a variant
trained over several."""

from __future__ import annotations

import numpy as np

from kemdy.classes import CLASS_INDEX, CLASSES
from kemdy.metrics import balanced_accuracy_of, macro_f1_of


def encode(labels) -> np.ndarray:
    return np.fromiter((CLASS_INDEX[x] for x in labels), dtype=np.int64, count=len(labels))


def group_confusions(y: np.ndarray, pred: np.ndarray, g: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """(n_groups, k*k) confusion counts of each group (session) of segments."""
    return np.bincount(g * k * k + y * k + pred, minlength=n_groups * k * k).reshape(n_groups, k * k)


def seed_matrix(pred) -> np.ndarray:
    """(n, n_seeds) class indices: one column per seed (a 1-D list: one seed)."""
    pred = np.asarray(pred, dtype=object)
    pred = pred[:, None] if pred.ndim == 1 else pred
    return np.stack([encode(pred[:, s].tolist()) for s in range(pred.shape[1])], axis=1)


def seed_weights(rng, n_seeds: int, n_folds: int, size: int) -> np.ndarray | None:
    """(size, n_folds, n_seeds) resampled seed counts, drawn for each fold apart (seed s of
    fold 0 and seed s of fold 1 are separate runs); None for one seed (nothing to draw, so
    a one-seed bootstrap's draws are exactly the sessions')."""
    if n_seeds == 1:
        return None
    return rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=(size, n_folds))


def resampled(draws: np.ndarray, cm: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Confusions of a chunk of resamples: session counts x each fold's seed counts x
    (G, F, S, k*k) confusions of every session, fold and seed."""
    if weights is None:
        return draws @ cm[:, :, 0, :].sum(1)
    return np.einsum("bg,bfs,gfsk->bk", draws, weights, cm, optimize=True)


def paired_bootstrap(label, pred_a, pred_b, n_boot: int, seed: int, groups=None,
                     chunk: int = 200, folds=None) -> dict:
    """Difference b - a of macro-F1 and balanced accuracy on the same segments, with a
    percentile 95 % CI from `n_boot` resamples (same draws for a and b).

    Segments of one session share speakers and a recording, so they are not independent:
    with `groups` (the session of each segment) whole sessions are resampled, which gives
    an honest, wider interval. A resample is a multinomial draw of session counts, so its
    confusion matrix is counts @ per-session confusions: no Python loop over resamples.

    A variant trained over several seeds gives its predictions as an (n, n_seeds) array:
    each resample then also draws that variant's seeds with replacement, for each of the
    `folds` (the fold whose model scored each segment) apart, and for a and b apart: seed s
    of fold 0 and seed s of fold 1, like seed s of two variants, are separate runs. The
    interval so carries the initialisation luck too. Its figure is that of the confusion
    summed over the drawn seeds.
    """
    y, a, b = encode(label), seed_matrix(pred_a), seed_matrix(pred_b)
    n, k = len(y), len(CLASSES)
    _, g = np.unique(np.asarray(groups if groups is not None else np.arange(n)), return_inverse=True)
    _, fold_of = np.unique(np.asarray(folds if folds is not None else np.zeros(n)),
                           return_inverse=True)
    n_groups, n_folds = int(g.max()) + 1, int(fold_of.max()) + 1
    cells = g * n_folds + fold_of  # a session's segments of each fold (a session is in one, usually)

    cm_a, cm_b = (np.stack([group_confusions(y, p[:, s], cells, n_groups * n_folds, k)
                            for s in range(p.shape[1])], axis=1
                           ).reshape(n_groups, n_folds, p.shape[1], k * k) for p in (a, b))
    stats = {"f1_macro": macro_f1_of, "balanced_accuracy": balanced_accuracy_of}
    point = {m: float(f(cm_b.sum((0, 1, 2)).reshape(k, k)) - f(cm_a.sum((0, 1, 2)).reshape(k, k)))
             for m, f in stats.items()}
    rng = np.random.default_rng(seed)
    seed_rng = np.random.default_rng([seed, 1])  # apart: the session draws stay the same
    deltas = {m: [] for m in stats}
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=size)
        boot_a, boot_b = (resampled(draws, cm, seed_weights(seed_rng, cm.shape[2], n_folds, size)
                                    ).reshape(-1, k, k) for cm in (cm_a, cm_b))
        for m, f in stats.items():
            deltas[m].append(f(boot_b) - f(boot_a))
    unit = "session" if groups is not None else "segment"
    if a.shape[1] > 1 or b.shape[1] > 1:
        unit += " and seed"
    out = {}
    for m in stats:
        d = np.concatenate(deltas[m])
        lo, hi = np.percentile(d, [2.5, 97.5])
        out[m] = {"delta": point[m], "lo": float(lo), "hi": float(hi),
                  "p_better": float(np.mean(d > 0)), "n_boot": int(n_boot), "n": n,
                  "n_groups": n_groups, "unit": unit,
                  "n_seeds": [int(a.shape[1]), int(b.shape[1])]}
    return out


def bootstrap_interval(label, pred, groups, n_boot: int, seed: int) -> dict:
    """One variant's pooled macro-F1 and balanced accuracy with percentile 95 % CIs from
    `n_boot` resamples of whole groups (sessions), as paired_bootstrap draws them."""
    y, p = encode(label), encode(pred)
    k = len(CLASSES)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(g.max()) + 1
    cm = group_confusions(y, p, g, n_groups, k)
    draws = np.random.default_rng(seed).multinomial(n_groups, np.full(n_groups, 1 / n_groups),
                                                    size=n_boot)
    boot = (draws @ cm).reshape(-1, k, k)
    out = {}
    for m, f in {"f1_macro": macro_f1_of, "balanced_accuracy": balanced_accuracy_of}.items():
        lo, hi = np.percentile(f(boot), [2.5, 97.5])
        out[m] = {"value": float(f(cm.sum(0).reshape(k, k))), "lo": float(lo), "hi": float(hi)}
    return out

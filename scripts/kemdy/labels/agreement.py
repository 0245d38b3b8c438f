"""Inter-rater agreement of the evaluators' emotion votes: Fleiss' kappa, Krippendorff's alpha.

aggregate_labels reports both in results/data/agreement.json.

Both take the votes of one item per row. `fleiss_kappa` takes a count table (items x
categories, cell = raters who chose that category); `krippendorff_alpha_nominal` takes a
votes matrix (items x raters, category codes 0..K-1, a negative code or NaN = no vote) and
`vote_counts` turns the latter into the former. Everything is vectorised: no loop over items.
"""

from __future__ import annotations

import numpy as np


def vote_counts(votes: np.ndarray, n_categories: int | None = None) -> np.ndarray:
    """Votes matrix (items x raters; code < 0 or NaN = missing) -> counts (items x categories)."""
    votes = np.asarray(votes, dtype=float)
    present = np.isfinite(votes) & (votes >= 0)
    codes = np.where(present, votes, -1).astype(np.int64)
    if n_categories is None:
        n_categories = int(codes.max()) + 1 if present.any() else 0
    onehot = codes[:, :, None] == np.arange(n_categories)
    return onehot.sum(axis=1)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of a count table (items x categories).

    With the same number of raters n on every item this is Fleiss (1971). Items may have
    different numbers of raters n_i: each item's agreement is then the share of agreeing
    pairs among its own n_i (n_i - 1) ordered pairs, items count equally in the mean, and the
    chance term uses the category shares pooled over all votes (the usual generalisation).
    Items with fewer than two raters carry no pair and are left out. NaN when undefined
    (no item with two raters, or a single category used throughout, i.e. chance agreement 1).
    """
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    if len(counts) == 0:
        return float("nan")
    p_i = (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))
    p_bar = p_i.mean()
    p_j = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_j**2).sum())
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1.0 - p_e))


def coincidence_matrix(votes: np.ndarray, n_categories: int | None = None) -> np.ndarray:
    """Krippendorff's coincidence matrix o_ck of a votes matrix (items x raters, missing-aware).

    Each unit with m_u >= 2 values contributes its ordered pairs of values from different
    raters, each weighted 1 / (m_u - 1); units with fewer than two values are not pairable.
    """
    counts = vote_counts(votes, n_categories).astype(float)
    m_u = counts.sum(axis=1)
    counts, m_u = counts[m_u >= 2], m_u[m_u >= 2]
    scale = 1.0 / (m_u - 1.0)
    # sum_u n_uc n_uk / (m_u - 1), less the pairs of a value with itself on the diagonal.
    o = (counts * scale[:, None]).T @ counts
    o[np.diag_indices_from(o)] -= (counts * scale[:, None]).sum(axis=0)
    return o


def krippendorff_alpha_nominal(votes: np.ndarray, n_categories: int | None = None) -> float:
    """Krippendorff's alpha for nominal data, 1 - D_o / D_e from the coincidence matrix.

    NaN when undefined (no pairable values, or a single category used throughout).
    """
    o = coincidence_matrix(votes, n_categories)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return float("nan")
    observed = (n - np.trace(o)) / n
    expected = (n**2 - (n_c**2).sum()) / (n * (n - 1))
    if np.isclose(expected, 0.0):
        return float("nan")
    return float(1.0 - observed / expected)

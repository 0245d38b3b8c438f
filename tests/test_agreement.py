"""Fleiss' kappa and Krippendorff's alpha against textbook examples and known identities."""

import math

import numpy as np
import pytest

from kemdy.labels.agreement import coincidence_matrix, fleiss_kappa, krippendorff_alpha_nominal, vote_counts

# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories.
FLEISS_COUNTS = np.array([
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
])  # fmt: skip

# Krippendorff, "Computing Krippendorff's alpha-reliability" (2011): 4 observers x 12 units,
# values 1-5, None = missing; nominal alpha = 0.743.
KRIPPENDORFF = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def krippendorff_votes():
    """Units x observers, codes 0..4, NaN = missing."""
    table = np.array([[np.nan if v is None else v - 1 for v in row] for row in KRIPPENDORFF])
    return table.T


def alpha_by_pairs(votes):
    """Independent reference: loop over units and ordered pairs of distinct observers."""
    values = [[v for v in unit if not math.isnan(v)] for unit in votes]
    o = {}
    for unit in values:
        m = len(unit)
        if m < 2:
            continue
        for a in range(m):
            for b in range(m):
                if a != b:
                    key = (unit[a], unit[b])
                    o[key] = o.get(key, 0.0) + 1.0 / (m - 1)
    n_c = {}
    for (c, _), w in o.items():
        n_c[c] = n_c.get(c, 0.0) + w
    n = sum(n_c.values())
    disagree = sum(w for (c, k), w in o.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    return 1.0 - (n - 1) * disagree / expected


def test_fleiss_wikipedia_example():
    assert fleiss_kappa(FLEISS_COUNTS) == pytest.approx(0.20993, abs=5e-5)
    assert round(fleiss_kappa(FLEISS_COUNTS), 3) == 0.210


def test_krippendorff_nominal_example_with_missing_values():
    votes = krippendorff_votes()
    alpha = krippendorff_alpha_nominal(votes)
    assert round(alpha, 3) == 0.743
    assert alpha == pytest.approx(alpha_by_pairs(votes), abs=1e-12)
    # Unit 12 has a single value: it is not pairable and contributes nothing.
    o = coincidence_matrix(votes)
    assert o.sum() == pytest.approx(40.0)  # pairable values in the paper's table
    assert np.allclose(o, o.T)


def test_alpha_agrees_with_pair_loop_on_random_sparse_votes():
    rng = np.random.default_rng(3)
    votes = rng.integers(0, 4, size=(60, 6)).astype(float)
    votes[rng.random(votes.shape) < 0.4] = np.nan
    assert krippendorff_alpha_nominal(votes) == pytest.approx(alpha_by_pairs(votes), abs=1e-12)


def test_alpha_and_kappa_identity_on_complete_data():
    # With every item rated by all m raters: alpha = 1 - (n - 1) / n * (1 - kappa), n = N m.
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 3, size=(50, 5))
    votes[:20, 1:] = votes[:20, [0]]  # some agreement so kappa is not ~0
    kappa = fleiss_kappa(vote_counts(votes, 3))
    n = votes.size
    assert krippendorff_alpha_nominal(votes, 3) == pytest.approx(1 - (n - 1) / n * (1 - kappa))


def test_negative_codes_are_missing():
    votes = krippendorff_votes()
    coded = np.where(np.isnan(votes), -1, votes).astype(int)
    assert krippendorff_alpha_nominal(coded) == pytest.approx(krippendorff_alpha_nominal(votes))
    assert vote_counts(coded).sum() == np.isfinite(votes).sum()


def test_perfect_agreement_is_one():
    votes = np.array([[0, 0, 0], [1, 1, -1], [2, 2, 2], [0, -1, 0]])
    assert krippendorff_alpha_nominal(votes) == pytest.approx(1.0)
    assert fleiss_kappa(vote_counts(votes)) == pytest.approx(1.0)


def test_item_with_one_rater_is_left_out():
    counts = FLEISS_COUNTS
    assert fleiss_kappa(np.vstack([counts, [[0, 0, 0, 1, 0]]])) == pytest.approx(
        fleiss_kappa(counts)
    )


def test_varying_raters_kappa_by_hand():
    # Items rated by 3, 2 and 4 raters. P_i: 6/6, 0/2, 2/12; pooled shares 4/9, 3/9, 2/9.
    counts = np.array([[3, 0, 0], [0, 1, 1], [1, 2, 1]])
    p_bar = (1 + 0 + 2 / 12) / 3
    p_e = (16 + 9 + 4) / 81
    assert fleiss_kappa(counts) == pytest.approx((p_bar - p_e) / (1 - p_e))


def test_undefined_cases_are_nan():
    assert math.isnan(fleiss_kappa(np.array([[3, 0], [4, 0]])))  # one category throughout
    assert math.isnan(krippendorff_alpha_nominal(np.array([[0, 0], [0, 0]])))
    assert math.isnan(krippendorff_alpha_nominal(np.array([[0, -1], [1, -1]])))  # no pairs
    assert math.isnan(fleiss_kappa(np.zeros((0, 3))))


def test_systematic_disagreement_is_negative():
    votes = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])
    assert krippendorff_alpha_nominal(votes) < 0
    assert fleiss_kappa(vote_counts(votes)) < 0

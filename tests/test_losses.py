import numpy as np
import pandas as pd
import pytest
import torch

from kemdy.spec import LOSSES
from kemdy.train.losses import Criterion, class_weights, make_criterion, probabilities


def test_class_weights_line_up_with_classes():
    # Class counts 1, 3, 2: in frequency order (value_counts) they would read 3, 2, 1
    # and land on the wrong classes, as in the original.
    labels = np.array([1, 1, 1, 0, 2, 2])
    soft = np.array([
        [0.2, 0.8, 0.0], [0.0, 0.6, 0.4], [0.1, 0.7, 0.2],
        [0.9, 0.1, 0.0], [0.0, 0.2, 0.8], [0.2, 0.2, 0.6],
    ])
    # mean scores: 1.4/6, 2.6/6, 2.0/6; n = (1*1.4, 3*2.6, 2*2.0)/6 = (1.4, 7.8, 4.0)/6
    n = np.array([1.4, 7.8, 4.0])
    expected = 1 - n / n.sum()
    assert np.allclose(class_weights(labels, soft), expected)
    unsorted = np.array([3, 2, 1]) * soft.mean(axis=0)
    assert not np.allclose(1 - unsorted / unsorted.sum(), expected)


def test_class_weights_absent_class_gets_weight_one():
    w = class_weights(np.array([0, 0, 1]), np.array([[1.0, 0, 0], [0.7, 0.3, 0], [0, 1.0, 0]]))
    assert w[2] == pytest.approx(1.0)


def test_soft_bce_is_weighted_sigmoid_loss():
    torch.manual_seed(0)
    logits, soft = torch.randn(4, 3), torch.softmax(torch.randn(4, 3), -1)
    w = torch.tensor([0.2, 0.5, 0.9])
    got = Criterion("soft_bce", weights=w)(logits, {"soft": soft, "y": soft.argmax(-1)})
    s = torch.sigmoid(logits)
    manual = -(w * (soft * s.log() + (1 - soft) * (1 - s).log())).mean(dim=1).mean()
    assert float(got) == pytest.approx(float(manual), rel=1e-5)


def test_focal_with_gamma_zero_is_cross_entropy_and_down_weights_easy_items():
    torch.manual_seed(1)
    logits, y = torch.randn(6, 7), torch.randint(0, 7, (6,))
    batch = {"y": y, "soft": None}
    ce = Criterion("ce")(logits, batch)
    assert float(Criterion("focal", gamma=0.0)(logits, batch)) == pytest.approx(float(ce), rel=1e-6)
    assert float(Criterion("focal", gamma=2.0)(logits, batch)) < float(ce)


def test_probabilities():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]])
    for kind in ("ce", "focal", "soft_bce"):
        p = probabilities(kind, logits)
        assert torch.allclose(p.sum(-1), torch.ones(2))
        assert torch.equal(p.argmax(-1), logits.argmax(-1))
    sig = torch.sigmoid(logits)
    assert torch.allclose(probabilities("soft_bce", logits), sig / sig.sum(-1, keepdim=True))


def test_make_criterion_uses_training_weights_only_for_soft_bce():
    labels, soft = np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    crit = make_criterion({"loss": "soft_bce"}, labels, soft)
    assert torch.allclose(crit.weight, torch.tensor(class_weights(labels, soft)))
    assert make_criterion({"loss": "ce"}, labels, soft).kind == "ce"
    with pytest.raises(ValueError):
        Criterion("hinge")


def test_ccc_loss_and_unrated_segments():
    from kemdy.train.losses import ccc

    target = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 3.0], [2.0, 5.0]])
    assert torch.allclose(ccc(target, target), torch.ones(2))
    assert (ccc(target + 1.0, target) < 1).all()  # a shift is penalised, unlike Pearson's r
    logits = torch.zeros(4, 7)
    batch = {"y": torch.zeros(4, dtype=torch.long), "soft": torch.full((4, 7), 1 / 7), "va": target}
    plain = Criterion("ce")((logits, None), batch)
    with_va = Criterion("ce", va_weight=0.5)((logits, target.clone()), batch)
    assert torch.allclose(with_va, plain)  # a perfect valence/arousal output adds nothing
    batch["va"] = torch.tensor([[1.0, 2.0], [float("nan"), float("nan")], [5.0, 3.0], [2.0, 5.0]])
    assert torch.isfinite(Criterion("ce", va_weight=0.5)((logits, target + 0.5), batch))


# ---------------------------------------------------------------- soft_focal, va_loss, PeakL


def test_soft_focal_is_focal_on_one_hot_targets_and_soft_ce_at_gamma_zero():
    torch.manual_seed(2)
    logits, y = torch.randn(6, 7), torch.randint(0, 7, (6,))
    one_hot = {"y": y, "soft": torch.nn.functional.one_hot(y, 7).float()}
    for gamma in (0.0, 2.0):
        assert float(Criterion("soft_focal", gamma=gamma)(logits, one_hot)) == pytest.approx(
            float(Criterion("focal", gamma=gamma)(logits, one_hot)), rel=1e-6)
    q = torch.softmax(torch.randn(6, 7), -1)
    soft_ce = -(q * torch.log_softmax(logits, -1)).sum(-1)
    batch = {"y": y, "soft": q}
    assert float(Criterion("soft_focal", gamma=0.0)(logits, batch)) == pytest.approx(
        float(soft_ce.mean()), rel=1e-6)
    per_segment = ((1 - torch.exp(-soft_ce)) ** 2 * soft_ce).mean()
    got = float(Criterion("soft_focal", gamma=2.0)(logits, batch))
    assert got == pytest.approx(float(per_segment), rel=1e-6)
    # each segment weighted by its own (1 - exp(-CE))^gamma, not by the batch's mean CE (TMN)
    easy_hard = torch.tensor([[5.0, 0, 0, 0, 0, 0, 0], [0, 5.0, 0, 0, 0, 0, 0]])
    q = torch.tensor([[0.9, 0.1, 0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0, 0, 0]])
    ce = -(q * torch.log_softmax(easy_hard, -1)).sum(-1)
    got = float(Criterion("soft_focal", gamma=2.0)(easy_hard, {"soft": q, "y": None}))
    assert got == pytest.approx(float(((1 - torch.exp(-ce)) ** 2 * ce).mean()), rel=1e-6)
    assert got != pytest.approx(float((1 - torch.exp(-ce.mean())) ** 2 * ce.mean()), rel=1e-2)


def test_soft_focal_is_smallest_where_the_prediction_is_the_target():
    q = torch.softmax(torch.randn(4, 7, generator=torch.Generator().manual_seed(3)), -1)
    logits = q.log().clone().requires_grad_(True)
    Criterion("soft_focal", gamma=2.0)(logits, {"soft": q, "y": q.argmax(-1)}).backward()
    assert logits.grad.abs().max() < 1e-6  # softmax(logits) = q: nothing to move
    assert torch.allclose(probabilities("soft_focal", logits.detach()), q, atol=1e-6)


def test_va_loss_mse_on_the_rating_scale_and_its_rated_segments():
    logits = torch.zeros(4, 7)
    target = torch.tensor([[1.0, 2.0], [float("nan"), float("nan")], [5.0, 3.0], [2.0, 5.0]])
    pred = torch.tensor([[2.0, 2.0], [9.0, 9.0], [4.0, 3.5], [2.0, 4.0]])
    batch = {"y": torch.zeros(4, dtype=torch.long), "soft": torch.full((4, 7), 1 / 7), "va": target}
    plain = Criterion("ce")((logits, None), batch)
    got = Criterion("ce", va_weight=0.5, va_loss="mse")((logits, pred), batch) - plain
    # rated rows 0, 2, 3: squared errors 1, 0, 1, 0.25, 0, 1 -> mean 3.25 / 6
    assert float(got) == pytest.approx(0.5 * 3.25 / 6, rel=1e-6)
    ccc_part = Criterion("ce", va_weight=0.5)((logits, pred), batch) - plain
    assert float(ccc_part) != pytest.approx(float(got), rel=1e-3)  # ccc stays the default
    # one rated segment: MSE still trains on it, CCC (a batch statistic) cannot
    one = {**batch, "va": torch.tensor([[1.0, 2.0]] + [[float("nan")] * 2] * 3)}
    mse_one = Criterion("ce", va_weight=1.0, va_loss="mse")((logits, pred), one) - plain
    assert float(mse_one) == pytest.approx(1.0 / 2, rel=1e-6)
    assert torch.equal(Criterion("ce", va_weight=1.0)((logits, pred), one), plain)
    crit = make_criterion({"loss": "ce", "va_weight": 0.3, "va_loss": "mse"}, [0], [[1.0]])
    assert crit.va_loss == "mse" and crit.va_weight == 0.3
    with pytest.raises(ValueError):
        Criterion("ce", va_loss="mae")


def peakl_as_tmn_describes_it(p: np.ndarray) -> np.ndarray:
    """The steps as TMN describes them, one row at a time: undo label smoothing at rate
    r = tanh(entropy), clip at 0, subtract the smallest value, renormalise."""
    out = []
    for row in p:
        k = len(row)
        r = np.tanh(-sum(x * np.log(x) for x in row if x > 0))
        u = np.maximum((row - r / k) / (1 - r), 0)
        u = u - u.min()
        out.append(u / u.sum())
    return np.array(out)


def test_peakl_is_tmns_sharpening_in_closed_form():
    from kemdy.train.data import peakl

    rng = np.random.default_rng(0)
    p = np.vstack([rng.dirichlet(np.full(7, a), size=50) for a in (0.2, 1.0, 5.0)])
    p[:10, 3:] = 0.0  # votes that leave classes empty, as ten raters' votes do
    p[:10] /= p[:10].sum(1, keepdims=True)
    q = peakl(p)
    assert np.allclose(q, peakl_as_tmn_describes_it(p), atol=1e-12)
    assert np.allclose(q.sum(1), 1.0) and (q >= 0).all()
    assert (q.argmax(1) == p.argmax(1)).all()  # the label never changes
    assert (q[p.argmin(1) >= 0, p.argmin(1)] == 0).all()  # the least-voted class always goes
    assert ((q == 0) >= (p == 0)).all() and (q.max(1) > p.max(1)).all()  # sharper
    # six of ten raters happy, three neutral, one sad: the sad vote (under r / 7) vanishes
    votes = np.array([[0.3, 0.6, 0.0, 0.0, 0.0, 0.1, 0.0]])
    t = np.tanh(-(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1))) / 7
    assert t > 0.1
    assert np.allclose(peakl(votes), [[(0.3 - t) / (0.9 - 2 * t), (0.6 - t) / (0.9 - 2 * t),
                                       0, 0, 0, 0, 0]])
    one_hot, uniform = np.eye(7)[[2]], np.full((1, 7), 1 / 7)
    assert np.array_equal(peakl(one_hot), one_hot) and np.allclose(peakl(uniform), uniform)
    assert np.array_equal(peakl(np.array([[0.4, 0.6]])), [[0.0, 1.0]])  # two classes: one-hot


def toy_split():
    """Six segments: train, val and test, neutral and not; the seven scores are votes."""
    from kemdy.classes import CLASSES

    scores = np.array([[0.3, 0.6, 0, 0, 0, 0.1, 0], [0.5, 0.2, 0.2, 0, 0, 0, 0.1],
                       [0.1, 0.1, 0.5, 0.3, 0, 0, 0], [0.2, 0.5, 0, 0, 0.3, 0, 0],
                       [0.6, 0.4, 0, 0, 0, 0, 0], [0.1, 0, 0, 0.4, 0.5, 0, 0]])
    frame = pd.DataFrame(scores, columns=CLASSES)
    frame.insert(0, "segment_id", [f"s{i}" for i in range(6)])
    frame["label"] = [CLASSES[i] for i in scores.argmax(1)]
    frame["part"] = ["train", "train", "train", "val", "test", "val"]
    frame["text"] = "x"
    return frame, scores


def test_sharpening_changes_training_targets_only_and_feeds_both_stages():
    from kemdy.train.data import make_task, peakl

    split, scores = toy_split()
    train = (split["part"] == "train").to_numpy()
    sharp = peakl(scores[train])
    for stage in (None, 1, 2):
        plain, sharpened = make_task(split, stage), make_task(split, stage, "peakl")
        assert np.array_equal(plain.y, sharpened.y)  # labels are never sharpened
        t = sharpened.rows("train")
        other = np.setdiff1d(np.arange(len(plain.y)), t)
        assert np.array_equal(plain.soft[other], sharpened.soft[other])  # val, test as rated
        assert not np.allclose(plain.soft[t], sharpened.soft[t])
        if stage is None:
            assert np.allclose(sharpened.soft[t], sharp)
    # stage 1 from the sharpened seven scores, not a sharpened pair (which is one-hot)
    s1 = make_task(split, 1, "peakl").soft[:3]
    assert np.allclose(s1, np.stack([sharp[:, 0], 1 - sharp[:, 0]], 1), atol=1e-6)
    assert 0 < s1[0, 0] < 0.3
    # stage 2 keeps the non-neutral training rows (0 and 2), renormalised over the emotions
    s2 = make_task(split, 2, "peakl")
    kept = sharp[[0, 2], 1:]
    assert np.allclose(s2.soft[s2.rows("train")], kept / kept.sum(1, keepdims=True), atol=1e-6)
    with pytest.raises(ValueError):
        make_task(split, None, "label_smoothing")


def test_every_loss_follows_the_logits_device():
    """The criterion is built on the CPU (from the training rows); soft_bce's class weights
    must still meet logits on the GPU. Checked with meta tensors, which refuse a CPU weight
    as CUDA does (the GPU check of 2026-12-04 crashed every soft_bce job there)."""
    labels, soft = np.array([0, 1, 2, 1]), np.full((4, 3), 1 / 3)
    logits = torch.zeros(4, 3, device="meta")
    batch = {"y": torch.zeros(4, dtype=torch.long, device="meta"),
             "soft": torch.zeros(4, 3, device="meta")}
    for kind in LOSSES:
        loss = make_criterion({"loss": kind}, labels, soft)((logits, None), batch)
        assert loss.device.type == "meta", kind

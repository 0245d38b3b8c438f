import numpy as np
import pytest
import torch

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
    assert torch.allclose(crit.loss.weight, torch.tensor(class_weights(labels, soft)))
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

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import train
from kemdy.classes import CLASSES, EMOTIONS
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.errors import InputError
from kemdy.runs import HISTORY_COLUMNS
from kemdy.spec import resolve
from kemdy.train import inputs as train_inputs
from kemdy.train.batches import length_grouped_batches, shard_batches
from kemdy.train.data import load_split, make_task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = {"epochs": 3, "lr": 3e-3, "batch_size": 8, "max_len": 32, "patience": 5, "seed": 3,
        "warmup_ratio": 0.1}
TEXT = {**BASE, "modality": "text", "loss": "ce"}
MM = {**BASE, "modality": "text+audio", "loss": "soft_bce", "audio_seconds": 0.6,
      "freeze_feature_encoder": False}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return toy_workspace(tmp_path_factory.mktemp("ws"), n_sessions=4, per_session=15)


def run(ws, run_dir, spec, variant="v", **kw):
    metrics = train.main(train_args(ws, run_dir, variant, spec, **kw))
    out = os.path.join(run_dir, "out")
    return metrics, pd.read_csv(os.path.join(out, "predictions.csv")), pd.read_csv(os.path.join(out, "history.csv"))


def figures(metrics):
    return {k: v for k, v in metrics.items() if k not in ("train_seconds", "device")}


def test_outputs_follow_the_contract(ws, tmp_path):
    metrics, preds, history = run(ws, tmp_path, TEXT, variant="text_ce")
    split = load_split(ws["data"], ws["folds"], 0)
    test_ids = set(split.loc[split["part"] == "test", "segment_id"])
    assert set(preds["segment_id"]) == test_ids and len(preds) == len(test_ids)
    assert list(preds.columns) == ["segment_id", "label", "pred", *[f"prob_{c}" for c in CLASSES]]
    assert np.allclose(preds.filter(like="prob_").sum(axis=1), 1.0)
    assert list(history.columns) == HISTORY_COLUMNS and list(history["epoch"]) == [1, 2, 3]
    assert metrics["best_epoch"] == int(history.loc[history["val_f1_macro"].idxmax(), "epoch"])
    assert metrics["variant"] == "text_ce" and metrics["fold"] == 0 and metrics["n_test"] == len(test_ids)
    saved = json.load(open(tmp_path / "out" / "metrics.json"))
    assert saved["accuracy"] == pytest.approx((preds["label"] == preds["pred"]).mean())
    config = json.load(open(tmp_path / "out" / "config.json"))
    assert config["lr"] == TEXT["lr"] and config["max_len"] == 32 and config["audio_seconds"] == 4.0
    # the best model is exported; the resume state is gone once the job has succeeded
    assert (tmp_path / "model" / "model.safetensors").exists() and not (tmp_path / "ckpt").exists()


def test_an_audio_only_variant_needs_no_text_encoder(ws, tmp_path):
    # the workflow passes only the encoders a variant's modality uses
    paths = {**ws, "text": str(tmp_path / "no-such-text-encoder")}
    spec = {**BASE, "epochs": 1, "modality": "audio", "loss": "ce", "audio_seconds": 0.6}
    train.main(train_args(paths, tmp_path, "audio_ce", spec))
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["encoders"]["text"] is None
    assert card["encoders"]["audio"]["name"] == ws["audio_encoder"]
    assert card["shape"]["text_dim"] == 0 and card["shape"]["audio_dim"] > 0


def test_same_seed_same_metrics_other_seed_differs(ws, tmp_path):
    m1, p1, h1 = run(ws, tmp_path / "a", TEXT)
    m2, p2, h2 = run(ws, tmp_path / "b", TEXT)
    m3, p3, _ = run(ws, tmp_path / "c", {**TEXT, "seed": 4})
    assert figures(m1) == figures(m2)
    pd.testing.assert_frame_equal(p1, p2, check_exact=True)
    pd.testing.assert_frame_equal(h1.drop(columns="seconds"), h2.drop(columns="seconds"), check_exact=True)
    assert not np.allclose(p1.filter(like="prob_"), p3.filter(like="prob_"))


INTERRUPT = """
import os, signal, sys
sys.path.insert(0, "scripts")
import train
from kemdy.train import batches
signum, after, at, seen = getattr(signal, sys.argv[1]), sys.argv[2], int(sys.argv[3]), [0]
collate = batches.Inputs.collate
def interrupted_collate(self, idx, *args):
    if after == "-" or os.path.exists(after):  # count batches from then on
        seen[0] += 1
        if seen[0] == at:
            os.kill(os.getpid(), signum)
    return collate(self, idx, *args)
batches.Inputs.collate = interrupted_collate
train.main(sys.argv[4:])
"""


def interrupted(argv, signal_name: str, at: int, after="-"):
    """train.main(argv) in a child sent `signal_name` as it collates its at-th batch, counted
    once the file `after` exists ("-": from the start)."""
    return subprocess.run([sys.executable, "-c", INTERRUPT, signal_name, str(after), str(at), *argv],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_sigkill_then_rerun_equals_uninterrupted(ws, tmp_path, capsys):
    # Multimodal with a trainable wav2vec2: dropout (torch RNG), SpecAugment and LayerDrop
    # (numpy RNG) must all be restored for the rerun to match.
    spec = {**MM, "epochs": 4}
    argv = train_args(ws, tmp_path / "killed", "mm", spec)
    # epoch 1's checkpoint is written: die inside epoch 2
    child = interrupted(argv, "SIGKILL", 3, after=tmp_path / "killed" / "ckpt" / "last.safetensors")
    assert child.returncode == -9, child.stderr[-2000:]
    assert not (tmp_path / "killed" / "out" / "metrics.json").exists()
    assert "epoch 1:" in child.stderr and "epoch 2:" not in child.stderr
    resumed = train.main(argv)
    assert "resuming after epoch 1" in capsys.readouterr().err
    assert_same_as_fresh(ws, tmp_path, resumed, tmp_path / "killed" / "out", spec, "mm")


def assert_same_as_fresh(ws, tmp_path, resumed: dict, out, spec, variant):
    """A resumed run's figures, predictions and every epoch's history, to the last bit (not
    only the best epoch's), equal those of an uninterrupted run."""
    fresh, fresh_preds, fresh_history = run(ws, tmp_path / "fresh", spec, variant=variant)
    assert figures(resumed) == figures(fresh)
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), fresh_preds, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv").drop(columns="seconds"),
                                  fresh_history.drop(columns="seconds"), check_exact=True)


def stopped_run(ws, run_dir, spec, variant="v"):
    """A run sent SIGTERM in its second epoch: it must save where it stands and exit 143."""
    argv = train_args(ws, run_dir, variant, spec)
    # epoch 1's checkpoint is written: SIGTERM inside epoch 2
    child = interrupted(argv, "SIGTERM", 2, after=run_dir / "ckpt" / "last.safetensors")
    assert child.returncode == 143, child.stderr[-2000:]
    assert "stopped by SIGTERM" in child.stderr and not (run_dir / "out").exists()
    return argv


def test_sigterm_mid_epoch_saves_and_a_rerun_resumes_exactly(ws, tmp_path, capsys):
    spec = {**MM, "epochs": 3}
    argv = stopped_run(ws, tmp_path / "stopped", spec, "mm")
    resumed = train.main(argv)
    assert "resuming after epoch 1" in capsys.readouterr().err
    assert_same_as_fresh(ws, tmp_path, resumed, tmp_path / "stopped" / "out", spec, "mm")



def with_minutes(argv, minutes):
    i = argv.index("--checkpoint-minutes")
    return argv[:i + 1] + [str(minutes)] + argv[i + 2:]


def test_resume_state_is_written_at_most_every_checkpoint_minutes(ws, tmp_path, monkeypatch):
    writes = []
    save = train.ckpt.save_epoch
    monkeypatch.setattr(train.ckpt, "save_epoch", lambda folder, fp, state, *a: (
        writes.append((state["epoch"], a[-1])), save(folder, fp, state, *a)))
    train.main(train_args(ws, tmp_path / "every", "v", TEXT))
    # after epochs 1 and 2 (best weights only when the best epoch changed), never after
    # the last one: the job exports its model and removes the resume state
    assert [e for e, _ in writes] == [1, 2]
    history = pd.read_csv(tmp_path / "every" / "out" / "history.csv")
    best = history["val_f1_macro"].cummax().diff().fillna(1).gt(0).tolist()
    assert [b for _, b in writes] == best[:2]
    writes.clear()
    train.main(with_minutes(train_args(ws, tmp_path / "hourly", "v", TEXT), 60))
    assert writes == []


def test_a_best_epoch_older_than_the_saved_one_resumes(tmp_path, capsys):
    """With checkpoint-minutes the first write may come epochs after the best one: the best
    file must carry the best epoch, or resume would throw the run away."""
    from kemdy.train import checkpoints as ckpt
    from kemdy.train.distributed import Dist

    def parts():
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
        return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)

    model, optimizer, scheduler = parts()
    best = ckpt.trainable_state(model)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {**ckpt.fresh_state(), "epoch": 5, "best_epoch": 3, "best_score": 0.5}
    ckpt.save_epoch(tmp_path, "fp", state, model, optimizer, scheduler, None, best, True)
    fresh = parts()
    resumed, best_back = ckpt.resume(*fresh, None, tmp_path, "fp", Dist())
    assert "resuming after epoch 5" in capsys.readouterr().err
    assert resumed["epoch"] == 5 and resumed["best_epoch"] == 3
    assert all(torch.equal(best_back[k], v) for k, v in best.items())
    assert torch.equal(fresh[0].weight, model.weight) and not torch.equal(fresh[0].weight, best["weight"])


def test_sigterm_saves_even_between_checkpoint_minutes(ws, tmp_path, capsys):
    argv = with_minutes(train_args(ws, tmp_path, "v", TEXT), 60)
    # 30 training rows in batches of 8 and one validation batch: call 7 is inside epoch 2
    child = interrupted(argv, "SIGTERM", 7)
    assert child.returncode == 143, child.stderr[-2000:]
    assert (tmp_path / "ckpt" / "last.safetensors").exists()
    train.main(argv)
    assert "resuming after epoch 1" in capsys.readouterr().err


def test_unreadable_or_foreign_checkpoint_is_ignored(ws, tmp_path, capsys):
    spec = {**TEXT, "epochs": 3}
    ref, _, _ = run(ws, tmp_path / "ref", spec)
    stopped_run(ws, tmp_path / "stopped", spec)
    ckpt = tmp_path / "bad" / "ckpt"
    ckpt.mkdir(parents=True)
    data = (tmp_path / "stopped" / "ckpt" / "last.safetensors").read_bytes()
    (ckpt / "last.safetensors").write_bytes(data[: len(data) // 2])  # truncated
    again, _, _ = run(ws, tmp_path / "bad", spec)
    assert "unreadable" in capsys.readouterr().err
    assert figures(again) == figures(ref)
    # a whole last.safetensors with a truncated best.safetensors: the pair cannot resume
    shutil.copytree(tmp_path / "stopped" / "ckpt", ckpt)
    data = (ckpt / "best.safetensors").read_bytes()
    (ckpt / "best.safetensors").write_bytes(data[: len(data) // 2])
    again, _, _ = run(ws, tmp_path / "bad", spec)
    err = capsys.readouterr().err
    assert "best.safetensors is unreadable" in err, err[-2000:]
    assert "best.safetensors does not match" in err and "training from scratch" in err
    assert "resuming" not in err and figures(again) == figures(ref)
    shutil.copytree(tmp_path / "stopped" / "ckpt", ckpt)
    other, _, _ = run(ws, tmp_path / "bad", {**spec, "lr": 1e-3})  # same folder, other spec
    assert "belongs to another spec" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "bad" / "out" / "history.csv")) == 3
    # a finished run leaves no resume state: a rerun trains again, to the same answer
    done, _, _ = run(ws, tmp_path / "ref", spec)
    assert "resuming" not in capsys.readouterr().err and figures(done) == figures(ref)


def test_a_checkpoint_is_data_never_code(ws, tmp_path, capsys):
    # A pickle that would run code when unpickled, put where a checkpoint belongs (as a
    # crafted file in a shared results/ would be): it is refused as unreadable, never run.
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    (tmp_path / "ckpt").mkdir()
    for name in ("last.safetensors", "best.safetensors"):
        (tmp_path / "ckpt" / name).write_bytes(pickle.dumps(Payload()))
    run(ws, tmp_path, {**TEXT, "epochs": 1})
    assert "unreadable" in capsys.readouterr().err and not (tmp_path / "PWNED").exists()


def test_early_stopping_and_best_checkpoint(ws, tmp_path):
    metrics, _, history = run(ws, tmp_path, {**TEXT, "epochs": 8, "patience": 1, "lr": 1e-6})
    assert len(history) < 8  # stopped early
    best = history["val_f1_macro"].max()
    first_best = int(history.loc[history["val_f1_macro"] == best, "epoch"].min())
    assert metrics["best_epoch"] == first_best
    assert int(history["epoch"].max()) == first_best + 1


def test_text_warmup_epochs_are_never_the_best(ws, tmp_path, capsys):
    spec = {**MM, "loss": "ce", "freeze_audio": True, "epochs": 3, "patience": 1,
            "text_warmup_epochs": 2}
    metrics, _, history = run(ws, tmp_path, spec)
    assert len(history) == 3 and metrics["best_epoch"] == 3  # patience does not count them
    log = capsys.readouterr().err
    assert log.count("(text-only warm-up)") == 2 and "epoch 3:" in log
    plain, _, _ = run(ws, tmp_path / "plain", {**spec, "text_warmup_epochs": 0})
    assert figures(plain) != figures(metrics)
    for bad in ({**spec, "text_warmup_epochs": 3}, {**TEXT, "text_warmup_epochs": 1}):
        with pytest.raises(InputError, match="text_warmup_epochs"):
            resolve({"variants": {"v": bad}}, "v")


def test_two_stage_targets_and_outputs(ws, tmp_path):
    split = load_split(ws["data"], ws["folds"], 0)
    s1, s2 = make_task(split, 1), make_task(split, 2)
    assert np.allclose(s1.soft[:, 0], split["neutral"]) and np.allclose(s1.soft.sum(1), 1)
    assert (s2.frame.loc[s2.frame["part"] != "test", "label"] != "neutral").all()
    assert (s2.frame["part"] == "test").sum() == (split["part"] == "test").sum()
    assert np.allclose(s2.soft.sum(1), 1)
    train_rows = s2.rows("train")
    assert [EMOTIONS[i] for i in s2.y[train_rows]] == list(s2.frame["label"].iloc[train_rows])
    spec = {**TEXT, "loss": "soft_bce", "two_stage": True, "epochs": 2}
    m1, p1, _ = run(ws, tmp_path / "s1", spec, stage=1)
    m2, p2, _ = run(ws, tmp_path / "s2", spec, stage=2)
    assert m1["stage"] == 1 and m2["stage"] == 2
    assert list(p1.columns[3:]) == ["prob_neutral", "prob_not_neutral"]
    assert list(p2.columns[3:]) == [f"prob_{e}" for e in EMOTIONS]
    assert set(p1["segment_id"]) == set(p2["segment_id"]) == set(split.loc[split["part"] == "test", "segment_id"])
    assert set(p1["label"]) <= {"neutral", "not_neutral"} and p2["pred"].isin(EMOTIONS).all()
    assert m2["n_test"] == int(p2["label"].isin(EMOTIONS).sum())
    with pytest.raises(InputError):
        train.main(train_args(ws, tmp_path / "x", "v", spec))  # two-stage needs --stage
    with pytest.raises(InputError):
        train.main(train_args(ws, tmp_path / "x", "v", TEXT, stage=1))


def test_frozen_encoders_use_the_embedding_cache(ws, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    spec = {**MM, "loss": "ce", "freeze_audio": True, "freeze_text": True, "epochs": 2}
    m0, _, _ = run(ws, tmp_path / "a", spec, cache_dir=cache)
    files = sorted(f for f in os.listdir(cache) if f.endswith(".safetensors"))
    assert [f.split("-")[0] for f in files] == ["audio", "text"]

    def boom(*a, **k):
        raise AssertionError("recomputed a cached embedding")

    monkeypatch.setattr(train_inputs, "audio_embeddings", boom)
    monkeypatch.setattr(train_inputs, "text_embeddings", boom)
    m1, _, _ = run(ws, tmp_path / "b", spec, cache_dir=cache)  # same variant: all cached
    assert figures(m1) == figures(m0)
    run(ws, tmp_path / "c", spec, fold=1, cache_dir=cache)  # another fold: still cached
    run(ws, tmp_path / "d", {**spec, "loss": "soft_bce", "two_stage": True}, stage=2, cache_dir=cache)
    assert sorted(f for f in os.listdir(cache) if f.endswith(".safetensors")) == files
    monkeypatch.undo()
    (cache / files[0]).write_bytes(b"garbage")  # a broken cache file is rebuilt
    m2, _, _ = run(ws, tmp_path / "e", spec, cache_dir=cache)
    assert figures(m2) == figures(m0)


def test_length_grouped_batches():
    lengths = np.random.default_rng(0).integers(1, 100, 203)
    a = length_grouped_batches(lengths, 16, seed=1, epoch=1, group=4)
    assert sorted(np.concatenate(a)) == list(range(203))
    b = length_grouped_batches(lengths, 16, seed=1, epoch=1, group=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = length_grouped_batches(lengths, 16, seed=1, epoch=2, group=4)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    spread = np.mean([lengths[x].max() - lengths[x].min() for x in a])
    assert spread < 0.5 * (lengths.max() - lengths.min())  # batches group similar lengths
    shards = [shard_batches(a, r, 2) for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    both = np.concatenate([np.concatenate(s) for s in shards])
    assert sorted(both) == list(range(203))


def test_bad_fold_is_a_clear_error(ws, tmp_path):
    with pytest.raises(InputError, match="fold 9"):
        train.main(train_args(ws, tmp_path, "v", TEXT, fold=9))


def test_embedding_cache_racing_jobs_compute_once(tmp_path):
    import threading
    import time

    from kemdy.train.embedding_cache import lookup, read_cache

    path, keys, calls = str(tmp_path / "text-x.safetensors"), ["a", "b", "a", "c"], []

    def compute(positions):
        calls.append(positions)
        time.sleep(0.2)  # both jobs are inside lookup() at the same time
        return torch.tensor([[float(ord(keys[p]))] * 3 for p in positions])

    results = [None, None]
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, lookup(path, keys, compute)))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [[0, 1, 3]]  # once, and the repeated input "a" only once
    assert torch.equal(results[0], results[1]) and results[0][:, 0].tolist() == [97, 98, 97, 99]
    grown = lookup(path, ["c", "d"], lambda pos: torch.full((len(pos), 3), 100.0))
    assert grown[:, 0].tolist() == [99, 100] and len(read_cache(path)) == 4


def test_a_cache_file_of_another_width_is_recomputed(tmp_path, capsys):
    """Right keys, vectors of another width (a foreign or mixed-up file): recomputed like an
    unreadable file, never a crash in training (issue 25.4)."""
    from kemdy.train.embedding_cache import lookup

    path = str(tmp_path / "audio-x.safetensors")
    lookup(path, ["a", "b"], lambda pos: torch.ones(len(pos), 5))  # written 5 wide
    got = lookup(path, ["a", "b"], lambda pos: torch.zeros(len(pos), 3), shape=(3,))
    assert got.shape == (2, 3) and float(got.abs().sum()) == 0.0
    assert "vectors of shape (5,), the encoder gives (3,)" in capsys.readouterr().err
    weighted = lookup(path, ["a"], lambda pos: torch.ones(len(pos), 4, 3), shape=(None, 3))
    assert weighted.shape == (1, 4, 3)  # layer-weighted vectors: any number of layers


def test_a_cache_entry_of_zeros_or_nan_is_recomputed(tmp_path, capsys):
    """A cache whose vectors were zeroed (or hold NaN) was used silently (issue 30.8): no
    encoder gives such a vector, so the entry is unreadable and recomputed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from kemdy.train.embedding_cache import lookup, read_cache

    path, calls = str(tmp_path / "text-x.safetensors"), []
    lookup(path, ["a", "b", "c"], lambda pos: torch.ones(len(pos), 3))
    with safe_open(path, framework="pt") as handle:
        meta, emb = handle.metadata(), handle.get_tensor("emb")
    emb[1], emb[2, 0] = 0.0, float("nan")  # keys are sorted: b zeroed, c damaged
    save_file({"emb": emb}, path, metadata=meta)

    def compute(positions):
        calls.append(positions)
        return torch.full((len(positions), 3), 2.0)

    got = lookup(path, ["a", "b", "c"], compute)
    assert calls == [[1, 2]] and got[:, 0].tolist() == [1.0, 2.0, 2.0]
    assert "2 of 3 vectors are all zero or not finite" in capsys.readouterr().err
    assert read_cache(path)["b"].tolist() == [2.0] * 3  # rewritten


def test_stage2_without_validation_segments_keeps_the_last_epoch(ws, tmp_path, capsys):
    # A tiny corpus can have an all-neutral validation session: stage 2 then has nothing to
    # validate on; it trains anyway, keeps the last epoch and says so.
    data = pd.read_csv(ws["data"])
    split = load_split(ws["data"], ws["folds"], 0)
    val = data["segment_id"].isin(split.loc[split["part"] == "val", "segment_id"])
    data.loc[val, "label"] = "neutral"
    data.loc[val, CLASSES] = [1.0] + [0.0] * 6
    data.to_csv(tmp_path / "new_data.csv", index=False)
    paths = {**ws, "data": str(tmp_path / "new_data.csv")}
    spec = {**TEXT, "loss": "soft_bce", "two_stage": True, "epochs": 2, "patience": 1}
    metrics, preds, history = run(paths, tmp_path, spec, stage=2)
    assert "no validation segments" in capsys.readouterr().err
    assert metrics["best_epoch"] == 2 and len(history) == 2 and history["val_f1_macro"].isna().all()
    assert len(preds) == int((split["part"] == "test").sum())


def test_accumulated_micro_batches_give_the_batch_they_replace(ws, tmp_path):
    # Without dropout (frozen encoders: their own dropout would draw other masks), two
    # micro-batches of 4 whose gradients add up make the step one batch of 8 makes: the same
    # model, to float rounding.
    spec = {**MM, "loss": "ce", "dropout": 0.0, "epochs": 2, "freeze_text": True,
            "freeze_audio": True}
    _, whole, _ = run(ws, tmp_path / "one", spec)
    _, parts, _ = run(ws, tmp_path / "two", {**spec, "accumulate": 2})
    probs = [c for c in whole.columns if c.startswith("prob_")]
    assert np.allclose(whole[probs], parts[probs], atol=1e-5)


def test_gradient_checkpointing_changes_memory_not_results(ws, tmp_path):
    plain, p1, _ = run(ws, tmp_path / "a", {**MM, "epochs": 1})
    ckpt, p2, _ = run(ws, tmp_path / "b", {**MM, "epochs": 1, "gradient_checkpointing": True})
    probs = [c for c in p1.columns if c.startswith("prob_")]
    assert np.allclose(p1[probs], p2[probs], atol=1e-5)


def test_crops_windows_and_batch_caps():
    from kemdy.train.batches import capped, crop_offset, window_offsets

    assert crop_offset(100, 40, "start") == 0 and crop_offset(100, 40, "centre") == 30
    draws = {crop_offset(100, 40, "random", seed=1, epoch=e, row=7) for e in range(20)}
    assert len(draws) > 5 and max(draws) <= 60  # a new cut each epoch, always inside the clip
    assert crop_offset(100, 40, "random", 1, 3, 7) == crop_offset(100, 40, "random", 1, 3, 7)
    assert window_offsets(100, 40) == [0, 40, 60] and window_offsets(30, 40) == [0]
    lengths = np.array([10, 10, 20, 20, 40, 40, 80])
    batches = capped(np.arange(7), lengths, 4, max_samples=80)
    assert [list(b) for b in batches] == [[0, 1, 2, 3], [4, 5], [6]]
    assert all(len(b) * lengths[b].max() <= 80 for b in batches)


def test_max_batch_seconds_counts_what_the_audio_encoder_processes():
    """Whisper encodes every clip as its whole 30-s window, so 2-s clips cost 30 s each
    against max_batch_seconds (counting the clips' 2 s let 8 windows, 240 s, into a 90-s
    batch); wav2vec2 costs the cut clip. A cap below one clip's cost is refused."""
    from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    from kemdy.train.batches import Inputs, eval_batches, training_batches
    from kemdy.train.data import Task
    from kemdy.train.distributed import Dist

    n, rate = 12, 16000
    task = Task(list(CLASSES), pd.DataFrame({"segment_id": [f"s{i}" for i in range(n)]}),
                np.zeros(n, np.int64), np.zeros((n, len(CLASSES)), np.float32))

    class Store:  # every clip 2 s long
        path = "audio"

        def span(self, segment_id):
            return 0, 2 * rate

    def largest(inputs, cap):
        train_batches = training_batches(inputs, np.arange(n), 8, 0, cap, Dist())(1)
        scoring = eval_batches(inputs.lengths, np.arange(n), 8, cap, costs=inputs.costs)
        return max(map(len, train_batches)), max(map(len, scoring))

    whisper = Inputs(task, audio=Store(), feature_extractor=WhisperFeatureExtractor(),
                     max_samples=4 * rate)
    assert (whisper.costs == 30 * rate).all()
    assert largest(whisper, whisper.batch_cap(90)) == (3, 3)
    with pytest.raises(InputError) as err:
        whisper.batch_cap(20)
    assert err.value.key == "max_batch_seconds" and "whole 30-s window" in err.value.problem
    assert "30 per clip a batch may hold" in err.value.fix
    w2v = Inputs(task, audio=Store(), feature_extractor=Wav2Vec2FeatureExtractor(),
                 max_samples=4 * rate)
    assert (w2v.costs == 2 * rate).all()
    assert largest(w2v, w2v.batch_cap(6)) == (3, 3)
    with pytest.raises(InputError, match="audio_seconds 4"):
        w2v.batch_cap(1.5)
    # a frozen encoder's cached vectors cost the batch no audio at all
    frozen = Inputs(task, audio=Store(), feature_extractor=WhisperFeatureExtractor(),
                    audio_emb=torch.zeros(n, 4))
    assert not frozen.costs.any() and frozen.batch_cap(1) == rate


def test_unpadded_eval_batches_hold_one_length_each():
    from kemdy.train.batches import eval_batches

    lengths = np.array([40, 10, 40, 20, 40, 10, 40, 40])
    batches = eval_batches(lengths, np.arange(8), 3, unpadded=True)
    assert [sorted(b) for b in batches] == [[1, 5], [3], [0, 2, 4], [6, 7]]
    assert sorted(np.concatenate(batches)) == list(range(8))
    padded = eval_batches(lengths, np.arange(8), 3)
    assert any(len(set(lengths[b])) > 1 for b in padded)


def test_windows_and_layer_weights_in_training(ws, tmp_path):
    spec = {**MM, "epochs": 2, "loss": "ce", "freeze_audio": True, "audio_seconds": 0.3,
            "audio_eval": "windows", "audio_layers": "weighted", "max_batch_seconds": 2.0}
    metrics, preds, _ = run(ws, tmp_path, spec)
    assert len(metrics["layer_weights"]) == 2 and sum(metrics["layer_weights"]) == pytest.approx(1.0)
    assert np.allclose(preds.filter(like="prob_").sum(axis=1), 1.0)
    from kemdy.train.embedding_cache import read_cache

    cache = next((tmp_path / "cache").glob("audio-*.safetensors"))
    vectors = list(read_cache(cache).values())
    assert vectors[0].shape == (2, 32)  # every layer of the frozen encoder, once per clip
    with pytest.raises(InputError, match="audio_crop"):
        resolve({"variants": {"v": {**spec, "audio_crop": "random"}}}, "v")


def test_precision_by_device(monkeypatch):
    from kemdy.train import loop

    assert loop.precision(torch.device("cpu")) == (None, None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert loop.precision(torch.device("cuda"))[0] == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    amp, scaler = loop.precision(torch.device("cuda"))
    assert amp == torch.float16 and scaler is not None  # a V100 or T4: fp16 with a GradScaler



# Never imported by a training job, which does not use them: scikit-learn cost every job
# 1.5 s before kemdy.metrics computed its figures with numpy; the others belong to the
# report, the sweep's selection and the workflow (README: performance).
NOT_IN_A_JOB = ("sklearn", "matplotlib", "snakemake", "kemdy.report", "kemdy.selection",
                "kemdy.protocol")
MODULES_OF_A_JOB = """
import json, sys
sys.path.insert(0, "scripts")
import train
train.main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump(sorted(sys.modules), out)
"""


def test_a_training_job_imports_nothing_it_does_not_use(ws, tmp_path):
    # A real job in a fresh process: what the encoders import lazily (transformers' model
    # classes, found from config.json) counts too.
    argv = train_args(ws, tmp_path, "v", {**MM, "epochs": 1, "loss": "ce", "freeze_audio": True})
    listed = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", MODULES_OF_A_JOB, str(listed), *argv],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(listed.read_text()))
    need = {"torch", "transformers.models.roberta.modeling_roberta",
            "transformers.models.wav2vec2.modeling_wav2vec2", "kemdy.train.loop"}
    assert need <= loaded, need - loaded  # the job ran as the workflow's does
    unused = sorted(m for m in loaded for name in NOT_IN_A_JOB
                    if m == name or m.startswith(f"{name}."))
    assert not unused, f"a training job imports {unused}"


def test_calibrate_temperature_is_fitted_on_validation_and_recorded(ws, tmp_path, capsys):
    """calibrate: temperature: T from the validation rows with the best epoch's weights, in
    metrics.json and model.json; predictions.csv keeps the model's own probabilities, so the
    figures before and after are both recomputable; changing every test label changes no
    temperature."""
    from kemdy.metrics import score_predictions, temperature_scaled
    from kemdy.train.export import card_digest, check_digest

    spec = {**TEXT, "epochs": 2, "calibrate": "temperature"}
    metrics, preds, _ = run(ws, tmp_path / "a", spec)
    t = metrics["temperature"]
    assert 0.05 <= t <= 20 and metrics["temperature_fit"]["val_segments"] > 0
    assert "calibration: temperature" in capsys.readouterr().err
    saved = json.load(open(tmp_path / "a" / "out" / "metrics.json"))
    again = score_predictions(preds, temperature=saved["temperature"])
    for m in ("ece", "brier", "nll", "ece_calibrated", "brier_calibrated", "nll_calibrated"):
        assert saved[m] == pytest.approx(again[m], abs=1e-9), m
    probs = preds[[f"prob_{c}" for c in CLASSES]].to_numpy()
    assert (temperature_scaled(probs, t).argmax(1) == probs.argmax(1)).all()
    card = json.load(open(tmp_path / "a" / "model" / "model.json"))
    assert card["temperature"] == t and card["spec"]["calibrate"] == "temperature"
    assert check_digest(tmp_path / "a" / "model", card)
    assert card_digest({**card, "temperature": 2 * t}) != card_digest(card)  # signed
    # the same job with every test label changed: the same temperature, other test figures
    data = pd.read_csv(ws["data"])
    split = load_split(ws["data"], ws["folds"], 0)
    test = data["segment_id"].isin(split.loc[split["part"] == "test", "segment_id"])
    data.loc[test, "label"] = np.where(data.loc[test, "label"] == "neutral", "angry",
                                       "neutral")
    data.to_csv(tmp_path / "new_data.csv", index=False)
    other, _, _ = run({**ws, "data": str(tmp_path / "new_data.csv")}, tmp_path / "b", spec)
    assert other["temperature"] == t
    assert other["nll_calibrated"] != metrics["nll_calibrated"]
    # calibrate none: no temperature anywhere, the outputs as before the key existed
    plain, _, _ = run(ws, tmp_path / "c", {**spec, "calibrate": "none"})
    assert "temperature" not in plain and "ece_calibrated" not in plain
    assert "temperature" not in json.load(open(tmp_path / "c" / "model" / "model.json"))
    assert {m: plain[m] for m in ("f1_macro", "ece", "nll")} == \
        {m: metrics[m] for m in ("f1_macro", "ece", "nll")}

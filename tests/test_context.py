"""Dialogue context (context_turns): ingest keeps the release's turn numbers, a dialogue's
turns come in the release's order (both speakers, both releases, wrong-prefix sessions too),
the pair encoding keeps the utterance and cuts the context from its start, and no label of
any segment reaches a model input."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import ingest
from kemdy import spec as specs
from kemdy.demo.encoders import train_tokenizer
from kemdy.demo.lookalike import generate
from kemdy.demo.real_like import klue_tokenizer
from kemdy.demo.toy_corpus import toy_workspace
from kemdy.errors import InputError
from kemdy.train.batches import tokenize
from kemdy.train.context import (CONTEXT_COLUMNS, encode_pairs, last_turns, previous_turns,
                                 read_dialogues)
from kemdy.train.data import load_split, make_task
from kemdy.train.distributed import Dist
from kemdy.train.embedding_cache import input_key
from kemdy.train.inputs import prepare_inputs

TEXTS = ["안녕하세요 반가워요", "그래서 어떻게 됐어?", "정말 화가 나네요 진짜로", "아니 괜찮아",
         "오늘 날씨가 좋네요", "무서워서 혼났어요"] * 4
TOKENIZERS = {"roberta-bpe": lambda: train_tokenizer(TEXTS, 300),
              "klue-wordpiece": lambda: klue_tokenizer(TEXTS)}


def dialogue_order(segments: pd.DataFrame) -> pd.DataFrame:
    # Numb runs on through a session, so this is every dialogue's order too
    return segments.sort_values(["session", "turn"], kind="stable")


# -- ingest: the release's turn numbers ----------------------------------------------------


def test_kemdy20_turns_follow_the_dialogue_also_with_wrong_prefixes(tiny_root, tiny_segments):
    """The look-alike plans each session's turns in dialogue order (truth.csv keeps it) and
    interleaves both speakers; Sess03's Segment IDs carry another session's prefix."""
    _, truth = tiny_root
    seg = pd.read_csv(tiny_segments, dtype={"segment_id": str})
    assert seg["turn"].notna().all() and seg["turn"].dtype.kind == "i"
    planned = pd.read_csv(truth)["segment_id"].tolist()
    assert dialogue_order(seg)["segment_id"].tolist() == planned
    sess3 = dialogue_order(seg[seg["session"] == 3])
    assert sess3["segment_id"].str.startswith("Sess03_").all()
    for _, dialogue in dialogue_order(seg).groupby(["session", "script"], sort=False):
        if dialogue["speaker"].nunique() == 2:  # interleaved, not one block per speaker
            changes = (dialogue["speaker"] != dialogue["speaker"].shift()).sum() - 1
            assert changes >= 1


@pytest.fixture(scope="module")
def segments19(tmp_path_factory) -> pd.DataFrame:
    base = tmp_path_factory.mktemp("k19")
    generate(base / "KEMDy19", base / "truth.csv", seed=3, n_sessions=3, segments_per_session=14,
             release="kemdy19")
    out = base / "data"
    ingest.main(["--dataset", "kemdy19", str(base / "KEMDy19"), "--out", str(out / "seg.csv"),
                 "--report", str(out / "ingest.json"), "--skipped", str(out / "skipped.csv")])
    seg = pd.read_csv(out / "seg.csv", dtype={"segment_id": str})
    return seg, pd.read_csv(base / "truth.csv")["segment_id"].tolist()


def test_kemdy19_turns_interleave_the_two_files(segments19):
    """KEMDy19's own labels come from two files (F rows, then M rows, in segments.csv);
    Numb, the same in both, puts the two speakers back in dialogue order."""
    seg, planned = segments19
    kept = set(seg["segment_id"])
    assert dialogue_order(seg)["segment_id"].tolist() == [s for s in planned if s in kept]
    assert seg["segment_id"].tolist() != dialogue_order(seg)["segment_id"].tolist()
    letters = dialogue_order(seg)["segment_id"].str[-4]
    assert (letters != letters.shift()).sum() > seg["session"].nunique() * 2


# -- dialogues and their previous turns ---------------------------------------------------


def write_segments(path: Path, rows: list[tuple]) -> Path:
    frame = pd.DataFrame(rows, columns=["dataset", "segment_id", "session", "script", "turn",
                                        "text"])
    frame["total_emotion"] = "angry"
    frame["e01_emotion"], frame["e01_valence"] = "sad", 1
    frame.to_csv(path, index=False)
    return path


HAND = [("KEMDy20", "b2", 1, "script02", 2, "b two"),
        ("KEMDy20", "a3", 1, "script01", 3, "a three"),
        ("KEMDy20", "a1", 1, "script01", 1, "a one"),
        ("KEMDy20", "b1", 1, "script02", 1, "b one"),
        ("KEMDy20", "a2", 1, "script01", 2, ""),
        ("KEMDy19", "c1", 1, "script01", 1, "c one")]  # same session and script, other release


def test_previous_turns_in_order_never_across_dialogues(tmp_path):
    table = read_dialogues(write_segments(tmp_path / "s.csv", HAND))
    assert list(table.columns) == CONTEXT_COLUMNS  # no label column is even read
    ids = ["a1", "a2", "a3", "b1", "b2", "c1"]
    assert previous_turns(table, ids, 2) == [[], ["a one"], ["a one", ""], [], ["b one"], []]
    assert previous_turns(table, ["a3"], 1) == [[""]]
    assert previous_turns(table, ["a3"], 9) == [["a one", ""]]
    with pytest.raises(InputError, match="zz is not in it"):
        previous_turns(table, ["zz"], 1)


@pytest.mark.parametrize("turn, problem", [("", "no turn number"), (3, "share one turn")])
def test_a_dialogue_without_a_known_order_is_refused(tmp_path, turn, problem):
    rows = list(HAND)
    rows[0] = rows[0][:4] + (turn,) + rows[0][5:]  # b2 without a Numb, or as turn 3 twice
    rows.append(("KEMDy20", "b3", 1, "script02", 3, "b three"))
    with pytest.raises(InputError, match=problem) as err:
        read_dialogues(write_segments(tmp_path / "s.csv", rows))
    assert "context_turns: 0" in str(err.value)


def test_predict_keeps_the_last_turns():
    assert last_turns(["a", "b", "c"], 2) == ["b", "c"]
    assert last_turns(["a"], 3) == ["a"]
    assert last_turns(["a", "b"], 0) == [] and last_turns(None, 2) == []


# -- the pair encoding ---------------------------------------------------------------------


@pytest.mark.parametrize("family", list(TOKENIZERS))
def test_pair_encoding_cuts_the_oldest_context_and_keeps_the_utterance(family):
    tok = TOKENIZERS[family]()
    turns, utt = ["안녕하세요 반가워요", "그래서 어떻게 됐어?"], "정말 화가 나네요"
    whole = encode_pairs(tok, [turns], [utt], 512)[0]
    assert whole.tolist() == tok(tok.sep_token.join(turns), utt)["input_ids"]
    utt_ids = tok(utt, add_special_tokens=False)["input_ids"]
    ctx_ids = tok(tok.sep_token.join(turns), add_special_tokens=False)["input_ids"]
    pair = tok.num_special_tokens_to_add(pair=True)
    for max_len in range(len(utt_ids) + pair + 1, len(whole)):
        ids = encode_pairs(tok, [turns], [utt], max_len)[0].tolist()
        assert len(ids) == max_len
        keep = max_len - pair - len(utt_ids)
        # one leading special token ([CLS] / <s>), the context's last `keep` tokens, ...,
        # the whole utterance and one closing special token
        assert ids[0] == whole[0] and ids[1: 1 + keep] == ctx_ids[-keep:]
        assert ids[len(ids) - len(utt_ids) - 1: -1] == utt_ids


@pytest.mark.parametrize("family", list(TOKENIZERS))
def test_without_context_or_room_the_utterance_is_encoded_as_without_context(family):
    tok = TOKENIZERS[family]()
    texts = ["정말 화가 나네요 진짜로", "아니 괜찮아"]
    for max_len in (4, 6, 64):
        assert [a.tolist() for a in encode_pairs(tok, [[], ["", " "]], texts, max_len)] == \
            [a.tolist() for a in tokenize(tok, texts, max_len)]
    # an utterance that fills max_len alone: cut from its end, the context dropped
    utt = tok(texts[0], add_special_tokens=False)["input_ids"]
    short = len(utt)  # utterance + pair specials > max_len
    assert encode_pairs(tok, [["오늘 날씨가 좋네요"]], [texts[0]], short)[0].tolist() == \
        tokenize(tok, [texts[0]], short)[0].tolist()


# -- the spec ------------------------------------------------------------------------------


def test_context_is_refused_without_text_and_off_by_default():
    assert specs.DEFAULTS["context_turns"] == 0
    config = {"variants": {"a": {"modality": "audio", "loss": "ce", "context_turns": 2},
                           "t": {"modality": "text+audio", "loss": "ce", "context_turns": 2}}}
    with pytest.raises(InputError, match="variants.a.context_turns"):
        specs.resolve(config, "a")
    assert specs.resolve(config, "t")["context_turns"] == 2


# -- no label reaches a model input --------------------------------------------------------


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return toy_workspace(tmp_path_factory.mktemp("ctx"), n_sessions=3, per_session=8)


def relabelled(ws, out: Path) -> dict:
    """The workspace's tables with every label, vote, score and rating of every segment
    changed (and vote columns added to segments.csv); transcripts, folds, audio kept."""
    rng = np.random.default_rng(1)
    data = pd.read_csv(ws["data"])
    classes = ["neutral", "happy", "surprise", "angry", "sad", "disgust", "fear"]
    data["label"] = rng.choice(classes, len(data))
    scores = rng.dirichlet(np.ones(7), len(data))
    data[classes] = scores
    data["max_score"] = scores.max(1)
    data["valence"], data["arousal"] = rng.uniform(1, 5, (2, len(data)))
    data["total_emotion"] = data["label"]
    seg = pd.read_csv(ws["segments"])
    seg["total_emotion"] = rng.choice(classes, len(seg))
    seg["e01_emotion"], seg["e01_valence"] = rng.choice(classes, len(seg)), 5
    out.mkdir()
    data.to_csv(out / "new_data.csv", index=False)
    seg.to_csv(out / "segments.csv", index=False)
    return {**ws, "data": str(out / "new_data.csv"), "segments": str(out / "segments.csv")}


def model_inputs(ws, spec: dict, cache: Path) -> dict:
    spec = specs.resolve({"variants": {"v": spec}}, "v")
    task = make_task(load_split(ws["data"], ws["folds"], 0), spec.get("stage"))
    paths = SimpleNamespace(text_encoder=ws["text"], audio_encoder=ws["audio_encoder"],
                            audio=ws["audio"], cache_dir=str(cache), segments=ws["segments"])
    inputs, _, _, _ = prepare_inputs(spec, task, paths, "cpu", Dist())
    ids = task.frame["segment_id"].tolist()
    batch = inputs.collate(np.arange(len(ids)))
    return {"ids": ids, **{k: v for k, v in batch.items() if k not in ("y", "soft", "va")}}


@pytest.mark.parametrize("freeze", [False, True], ids=["trained", "frozen"])
def test_no_label_of_any_segment_reaches_a_model_input(ws, tmp_path, freeze):
    spec = {"modality": "text+audio", "loss": "ce", "context_turns": 3, "max_len": 64,
            "freeze_text": freeze, "freeze_audio": True, "audio_seconds": 0.6}
    before = model_inputs(ws, spec, tmp_path / "cache")
    after = model_inputs(relabelled(ws, tmp_path / "relabelled"), spec, tmp_path / "cache2")
    assert before["ids"] == after["ids"]
    assert set(before) == set(after) and len(before) > 2
    for key in before:
        if key != "ids":
            assert torch.equal(before[key], after[key]), key
    plain = model_inputs(ws, {**spec, "context_turns": 0}, tmp_path / "cache3")
    if freeze:  # the context is there: other vectors than without it
        assert not torch.equal(before["text_emb"], plain["text_emb"])
    else:  # longer inputs than without it
        assert (before["attention_mask"].sum(1) > plain["attention_mask"].sum(1)).any()


def test_the_frozen_cache_keys_the_context(ws, tmp_path):
    """One utterance after two different turns: two keys, two vectors; alone, the key of
    the encoding without context."""
    tok = train_tokenizer(TEXTS, 300)
    ids = encode_pairs(tok, [["안녕하세요 반가워요"], ["무서워서 혼났어요"], []], ["아니 괜찮아"] * 3, 64)
    keys = [input_key(a) for a in ids]
    assert len(set(keys)) == 3
    assert keys[2] == input_key(tokenize(tok, ["아니 괜찮아"], 64)[0])
    spec = {"modality": "text", "loss": "ce", "context_turns": 2, "freeze_text": True}
    emb = model_inputs(ws, spec, tmp_path / "cache")["text_emb"]
    assert len({tuple(np.round(v.numpy(), 6)) for v in emb}) == len(emb)  # no vector reused


def test_stage_two_reads_the_same_context_as_one_stage(ws, tmp_path):
    """Stage 2 trains on non-neutral segments only; their context still holds every turn."""
    spec = {"modality": "text", "loss": "ce", "context_turns": 2, "max_len": 64}
    one = model_inputs(ws, spec, tmp_path / "a")
    two = model_inputs(ws, {**spec, "two_stage": True, "stage": 2}, tmp_path / "b")
    assert len(two["ids"]) < len(one["ids"])
    for row, sid in enumerate(two["ids"]):
        at = one["ids"].index(sid)
        n = int(two["attention_mask"][row].sum())
        assert n == int(one["attention_mask"][at].sum())
        assert torch.equal(two["input_ids"][row, :n], one["input_ids"][at, :n])

"""The user's data and machine are safe, through the real workflow: a synthetic config never
touches a real copy, odd paths work and nothing in a config is executed, a changed dataset
file reruns ingest (and a touch nothing), config slips are clear errors, encoders are found
before any job.

The session's small look-alike (conftest.py) is copied by each test. "A real copy" is such
a copy: without the generator's marker, to the workflow it is a user's KEMDy20.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from kemdy.demo.owned import MARKER
from workflow_utils import BIN, copy_workflow, env, snakemake, tiny_config, tree_digest

pytestmark = pytest.mark.workflow


def real_copy(lookalike: Path, where: Path) -> Path:
    shutil.copytree(lookalike, where)
    return where


def planned(work: Path, *args: str, **extra_env) -> set[str]:
    proc = snakemake(work, "-n", *args, **extra_env)
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout, flags=re.M))


def output_of(proc) -> str:
    return proc.stdout + proc.stderr


# -- 1. a synthetic config pointed at a real copy ----------------------------------------


@pytest.mark.parametrize("stray", [None, "notes.txt"])
def test_a_synthetic_config_never_writes_or_deletes_a_real_copy(lookalike, tmp_path, stray):
    if stray:  # a look-alike the workflow wrote, to which a user added a file of their own
        root = tmp_path / "KEMDy20_v1_1"
        work = copy_workflow(tmp_path / "first", tiny_config(**{"dataset.root": str(root)}))
        snakemake(work, "results/lookalike/truth.csv")
        assert (root / MARKER).exists()
        (root / "annotation" / stray).write_text("mine")
    else:  # a user's real copy
        root = real_copy(lookalike, tmp_path / "KEMDy20_v1_1")
    before = tree_digest(root)
    config = tiny_config(**{"dataset.root": str(root), "synthetic.seed": 99})
    work = copy_workflow(tmp_path / "workflow", config)
    proc = snakemake(work, check=False)  # a real run, not a dry one
    assert proc.returncode != 0
    message = output_of(proc)
    assert "dataset.kind is synthetic" in message and "dataset.root" in message
    assert str(root) in message and (stray or "annotation/") in message
    assert tree_digest(root) == before, "the workflow changed a dataset it did not generate"
    assert not (work / "results").exists() and not (work / "logs").exists()


# -- 2, 8, 9. odd paths, no shell injection, $VARS, run from elsewhere ----------------------


def test_odd_paths_run_end_to_end_and_nothing_in_a_config_is_executed(lookalike, tmp_path):
    odd = tmp_path / "data $(touch PWNED_ROOT) `touch PWNED_TICK`"
    root = real_copy(lookalike, odd / "KEMDy20 (1) - 복사본")
    before = tree_digest(root)
    config = tiny_config(**{
        "dataset.kind": "kemdy20", "dataset.root": "$KEMDY_ODD/KEMDy20 (1) - 복사본",
        "encoders.text": "results/enc $(touch PWNED_TEXT)/text",
        "encoders.audio": "results/enc $(touch PWNED_AUDIO)/audio",
        "folds.n_folds": 2, "train.epochs": 1, "report.bootstrap": 100,
    })  # fmt: skip
    config["variants"] = {k: config["variants"][k] for k in ("text_ce", "mm_ce")}
    workflow = copy_workflow(tmp_path / "the workflow", None)
    (tmp_path / "odd config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    workdir = tmp_path / "a run dir; touch PWNED_DIR"
    # From elsewhere: -s names the Snakefile, --directory the working directory.
    proc = snakemake(tmp_path, "-s", str(workflow / "Snakefile"), "--directory", str(workdir),
                     "--configfile", str(tmp_path / "odd config.yaml"), KEMDY_ODD=str(odd))
    assert (workdir / "reports/summary.html").exists(), output_of(proc)[-3000:]
    assert (workdir / "results/enc $(touch PWNED_TEXT)/text/config.json").exists()
    pwned = [p for p in tmp_path.rglob("PWNED*")] + [p for p in Path.cwd().glob("PWNED*")]
    assert not pwned, f"a config value was run as shell: {pwned}"
    assert tree_digest(root) == before
    assert planned(workdir, "-s", str(workflow / "Snakefile"), "--configfile",
                   str(tmp_path / "odd config.yaml"), KEMDY_ODD=str(odd)) == set()


# -- 4. stale inputs ---------------------------------------------------------------------


@pytest.fixture
def ingested(lookalike, tmp_path):
    root = real_copy(lookalike, tmp_path / "KEMDy20_v1_1")
    config = tiny_config(**{"dataset.kind": "kemdy20", "dataset.root": str(root),
                            "dataset.skip_missing": True, "dataset.max_skipped_share": 0.5})
    work = copy_workflow(tmp_path / "workflow", config)
    return root, work


DATA_STEPS = ("results/data/segments.csv", "results/data/audio/audio_index.csv")


def test_a_changed_dataset_file_reruns_ingest_and_a_touch_nothing(ingested):
    root, work = ingested
    wav = sorted((root / "wav" / "Session02").glob("*.wav"))[1]
    original = wav.read_bytes()
    wav.unlink()
    snakemake(work, *DATA_STEPS)
    assert wav.stem in (work / "results/data/skipped.csv").read_text()
    assert planned(work, *DATA_STEPS) == set()

    wav.write_bytes(original)  # restored from the release
    assert {"ingest", "decode_audio"} <= planned(work, *DATA_STEPS)
    snakemake(work, *DATA_STEPS)
    assert wav.stem not in (work / "results/data/skipped.csv").read_text()

    os.utime(wav)  # a touch, or a copy with new times: no change
    assert planned(work, *DATA_STEPS) == set()

    data, rate = sf.read(wav, dtype="int16")  # the same size, other samples: a change
    sf.write(wav, np.roll(data, 1), rate, subtype="PCM_16")
    assert {"ingest", "decode_audio"} <= planned(work, *DATA_STEPS)
    wav.write_bytes(original)
    assert planned(work, *DATA_STEPS) == set()

    (root / "wav" / "Session02" / "Sess02_script06_User003M_099.wav").write_bytes(original)
    assert "ingest" in planned(work, *DATA_STEPS)  # an added file


# -- 5. lost data blamed on the right setting ----------------------------------------------


def test_a_lost_session_stops_ingest_naming_it(ingested):
    root, work = ingested
    for wav in (root / "wav" / "Session04").glob("*.wav"):
        wav.unlink()
    proc = snakemake(work, DATA_STEPS[0], check=False)
    assert proc.returncode != 0
    message = output_of(proc) + (work / "logs/ingest.log").read_text()
    assert "every segment of KEMDy20 Sess04 was skipped" in message
    assert "dataset.skip_missing" in message and not (work / DATA_STEPS[0]).exists()


# -- 8. config hygiene ---------------------------------------------------------------------


def test_a_duplicate_key_is_an_error_naming_the_file_and_line(tmp_path):
    work = copy_workflow(tmp_path, None)
    text = (work / "config.yaml").read_text()
    (work / "config.yaml").write_text(text + "\nvariants:\n  text_ce: {modality: text, loss: ce}\n")
    proc = snakemake(work, "-n", check=False)
    assert proc.returncode != 0
    message = output_of(proc)
    assert "config.yaml" in message and "duplicate key 'variants'" in message
    assert "silently replaces the first" in message


def test_home_and_environment_variables_expand_and_an_unset_one_is_named(lookalike, tmp_path):
    real_copy(lookalike, tmp_path / "home" / "KEMDy20")
    work = copy_workflow(tmp_path / "w", tiny_config(**{"dataset.kind": "kemdy20",
                                                        "dataset.root": "~/KEMDy20"}))
    assert "ingest" in planned(work, HOME=str(tmp_path / "home"))
    config = tiny_config(**{"dataset.kind": "kemdy20", "dataset.root": "$KEMDY_NOT_SET/KEMDy20"})
    work = copy_workflow(tmp_path / "w2", config)
    proc = snakemake(work, "-n", check=False)
    assert proc.returncode != 0 and "$KEMDY_NOT_SET" in output_of(proc)
    assert "dataset.root" in output_of(proc)


def test_config_overrides_of_nested_numbers_work_as_the_readme_says(tmp_path):
    work = copy_workflow(tmp_path, tiny_config())
    proc = snakemake(work, "-n", "--config", "train={epochs: 3, lr: 1.0e-3}", "folds={n_folds: 2}")
    assert "train " in proc.stdout or "rule train" in proc.stdout
    jobs = re.findall(r"results/runs/text_ce/fold(\d)/metrics.json", proc.stdout)
    assert sorted(set(jobs)) == ["0", "1"]


# -- 10. encoders checked before any job -----------------------------------------------------


def real_encoders_config(**overrides) -> dict:
    return tiny_config(**{"encoders.build_demo": False, **overrides})


@pytest.mark.parametrize("key, value, expect", [
    ("encoders.text", "./no/such/folder", "no such folder"),
    ("encoders.text", "klue/roberta-base", "hf download klue/roberta-base"),
    ("encoders.audio", "facebook/wav2vec2-base", "hf download facebook/wav2vec2-base"),
])
def test_an_encoder_that_is_not_there_fails_before_any_job(tmp_path, key, value, expect):
    config = real_encoders_config(**{"encoders.text": str(tmp_path / "text"), key: value})
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "config.json").write_text('{"model_type": "roberta", '
                                                  '"max_position_embeddings": 514, "pad_token_id": 1}')
    work = copy_workflow(tmp_path / "w", config)
    proc = snakemake(work, "-n", check=False, HF_HUB_CACHE=str(tmp_path / "empty-cache"))
    assert proc.returncode != 0
    assert key in output_of(proc) and expect in output_of(proc)
    assert not (work / "results").exists()


def test_data_targets_need_no_encoder_and_training_still_stops_naming_it(tmp_path):
    """The re-labelled table and the folds load no model: missing encoders do not block them
    (issue 25.2), while a target that trains still stops before any job, naming the key."""
    config = real_encoders_config(**{"encoders.text": "klue/roberta-base",
                                     "encoders.audio": "facebook/wav2vec2-base"})
    work = copy_workflow(tmp_path / "w", config)
    cache = {"HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    for target in ("results/data/new_data.csv", "results/data/folds.csv",
                   "results/data/agreement.json"):
        proc = snakemake(work, "-n", target, check=False, **cache)
        assert proc.returncode == 0, output_of(proc)
    proc = snakemake(work, "-n", "results/runs/text_ce/fold0/metrics.json", check=False, **cache)
    assert proc.returncode != 0
    assert "encoders.text" in output_of(proc) and "hf download klue/roberta-base" in output_of(proc)
    assert output_of(proc).count("hf download") == 1  # one message, not one per job
    assert not (work / "results").exists()


def test_max_len_beyond_the_text_encoders_positions_fails_before_any_job(tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "config.json").write_text('{"model_type": "roberta", '
                                                  '"max_position_embeddings": 34, "pad_token_id": 1}')
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "config.json").write_text('{"model_type": "wav2vec2"}')
    config = real_encoders_config(**{"encoders.text": str(tmp_path / "text"),
                                     "encoders.audio": str(tmp_path / "audio")})
    work = copy_workflow(tmp_path / "w", config)
    proc = snakemake(work, "-n", check=False)
    assert proc.returncode != 0
    assert "max_len 64 is more than the 32 tokens" in output_of(proc)
    assert "variants.text_ce.max_len" in output_of(proc)

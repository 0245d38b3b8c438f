"""One list of losses and modalities, one set of spec defaults: the config schema's enums and
training keys must be exactly the library's."""

import json
from pathlib import Path

import pytest
import yaml

from kemdy import spec
from kemdy.errors import InputError
from kemdy.metrics import HEADLINE, NAMES
from kemdy.train.losses import Criterion

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "schemas/config.schema.yaml").read_text())
TRAINING = SCHEMA["$defs"]["training"]["properties"]


def test_schema_enums_equal_the_library_lists():
    assert tuple(TRAINING["loss"]["enum"]) == spec.LOSSES
    assert tuple(TRAINING["modality"]["enum"]) == spec.MODALITIES
    assert tuple(TRAINING["audio_crop"]["enum"]) == spec.AUDIO_CROPS
    assert tuple(TRAINING["audio_eval"]["enum"]) == spec.AUDIO_EVALS
    assert tuple(TRAINING["audio_layers"]["enum"]) == spec.AUDIO_LAYERS
    assert tuple(TRAINING["target_sharpening"]["enum"]) == spec.SHARPENINGS
    assert tuple(TRAINING["va_loss"]["enum"]) == spec.VA_LOSSES
    assert set(spec.SOFT_LOSSES) < set(spec.LOSSES)


def test_every_default_is_a_schema_key_and_every_schema_key_has_a_default():
    assert set(TRAINING) == (set(spec.DEFAULTS) | set(spec.REQUIRED) | set(spec.OPTIONAL)
                             | set(spec.PROTOCOL_KEYS))


def test_every_loss_builds_and_metric_names_cover_the_headline():
    for kind in spec.LOSSES:
        Criterion(kind)
    assert list(NAMES) == HEADLINE


def test_resolve_layers_defaults_train_and_variant():
    config = {"train": {"lr": 1e-3, "epochs": 4}, "variants": {"v": {"modality": "text", "loss": "ce", "epochs": 2}}}
    resolved = spec.resolve(config, "v")
    assert resolved["lr"] == 1e-3 and resolved["epochs"] == 2 and resolved["batch_size"] == 64
    assert resolved["name"] == "v"
    with pytest.raises(InputError, match="variants.v.loss"):
        spec.resolve({"variants": {"v": {"modality": "text", "loss": "hinge"}}}, "v")


def test_a_job_spec_must_be_complete():
    with pytest.raises(InputError, match="lacks"):
        spec.for_stage({"modality": "text", "loss": "ce"})
    full = spec.resolve({"variants": {"v": {"modality": "text", "loss": "ce", "two_stage": True}}}, "v")
    assert spec.for_stage(full, 1, max_epochs=3)["epochs"] == 3
    with pytest.raises(InputError, match="--stage"):
        spec.for_stage(full)


def test_checkpoint_minutes_is_a_training_resource_only():
    import jsonschema

    resources = SCHEMA["$defs"]
    validate = lambda name, value: jsonschema.validate(  # noqa: E731
        value, {"$defs": resources, "$ref": f"#/$defs/{name}"})
    validate("train_resources", {"threads": 2, "checkpoint_minutes": 0})
    validate("resources", {"threads": 2, "mem_mb": 100, "runtime": 5, "gpu": 0})
    with pytest.raises(jsonschema.ValidationError, match="checkpoint_minutes"):
        validate("resources", {"checkpoint_minutes": 10})


@pytest.mark.parametrize("variant, key, words", [
    ({"loss": "ce", "target_sharpening": "peakl"}, "target_sharpening", "loss ce"),
    ({"loss": "focal", "target_sharpening": "peakl"}, "target_sharpening", "hard label"),
    ({"loss": "ce", "va_loss": "mse"}, "va_loss", "va_weight 0"),
    ({"loss": "ce", "lr_encoders": 1e-5, "freeze_text": True}, "lr_encoders", "freeze_text"),
    ({"loss": "ce", "lr_encoders": 1e-5, "modality": "text+audio", "freeze_text": True,
      "freeze_audio": True}, "lr_encoders", "freeze_text and freeze_audio"),
])
def test_optimiser_and_target_keys_are_refused_where_they_change_nothing(variant, key, words):
    config = {"variants": {"v": {"modality": "text", **variant}}}
    with pytest.raises(InputError, match=f"variants.v.{key}.*{words}"):
        spec.resolve(config, "v")


@pytest.mark.parametrize("variant", [
    {"loss": "soft_bce", "target_sharpening": "peakl", "two_stage": True},
    {"loss": "soft_focal", "target_sharpening": "peakl"},
    {"loss": "ce", "va_loss": "mse", "va_weight": 0.4},
    {"loss": "ce", "lr_encoders": 1e-5, "modality": "text+audio", "freeze_audio": True},
])
def test_optimiser_and_target_keys_where_they_act(variant):
    resolved = spec.resolve({"variants": {"v": {"modality": "text", **variant}}}, "v")
    assert all(resolved[k] == v for k, v in variant.items())
    default = spec.resolve({"variants": {"v": {"modality": "text", "loss": "ce"}}}, "v")
    assert (default["lr_encoders"], default["target_sharpening"], default["va_loss"]) == (
        None, "none", "ccc")


def test_a_jobs_identity_leaves_out_a_later_key_at_its_default_and_the_job_fills_it_back():
    from kemdy.spec import DEFAULTS, IDENTITY_KEYS, identity, job_spec

    spec = {**DEFAULTS, "modality": "text", "loss": "ce", "name": "v"}
    later = sorted(set(DEFAULTS) - IDENTITY_KEYS)
    assert "head" in later and "attention_readout" in later
    ident = identity(spec)
    assert not set(later) & set(ident)  # at their defaults: not part of the identity
    assert IDENTITY_KEYS <= set(ident) and ident["name"] == "v"
    assert identity({**spec, "head": "gelu"})["head"] == "gelu"  # set: it is
    # cross_attention became MulT with these options: its jobs name them
    cross = identity({**spec, "modality": "text+audio", "fusion": "cross_attention"})
    assert cross["attention_readout"] == DEFAULTS["attention_readout"]
    # train.py gets the identity and trains the full spec
    full = job_spec(json.dumps(ident), None, "v")
    assert {k: full[k] for k in DEFAULTS} == DEFAULTS
    with pytest.raises(InputError, match="lacks"):  # a key every job has carried is required
        job_spec(json.dumps({k: v for k, v in ident.items() if k != "lr"}), None, "v")


def test_a_change_in_what_training_does_for_the_same_spec_is_in_the_identity():
    """lr_encoders' new weights now learn at lr, and max_batch_seconds counts what the encoder
    processes: a job that sets either is not the job it was, so its identity says so (it
    reruns once); one that sets neither keeps its identity. A head's size is in the identity
    of the head that reads it."""
    from kemdy.spec import DEFAULTS, REVISION_KEY, identity, job_spec

    spec = {**DEFAULTS, "modality": "text", "loss": "ce", "name": "v"}
    assert REVISION_KEY not in identity(spec)
    assert identity({**spec, "lr_encoders": 1e-5})[REVISION_KEY] == ["new weights at lr"]
    assert identity({**spec, "max_batch_seconds": 60})[REVISION_KEY] == ["encoder seconds"]
    gelu = identity({**spec, "head": "gelu"})
    assert gelu["head_hidden"] == DEFAULTS["head_hidden"]
    trained = job_spec(json.dumps(identity({**spec, "lr_encoders": 1e-5})), None, "v")
    assert REVISION_KEY not in trained and trained["lr_encoders"] == 1e-5

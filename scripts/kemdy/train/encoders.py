"""Pre-trained encoders as the jobs load them (hub name or local folder): the loaders, one
log line per load, and content fingerprints that key checkpoints, caches and model.json."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import torch
from torch import nn

from kemdy.fusion_spec import needs_sequences


def quiet_transformers() -> None:
    """No per-file progress bars in the job logs, and no warning repeated every step: WavLM
    hands torch's attention a boolean padding mask beside its float position bias, which
    torch calls deprecated each time the warning registry is reset (harmless: torch turns
    the boolean mask into -inf itself). Filtered by its exact message, once."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask and "
                            "attn_mask is deprecated", category=UserWarning)


def load_text_encoder(path: str):
    """(tokenizer, model) by the same calls for `klue/roberta-base` and a local folder. The
    weights are float32 whatever the checkpoint was saved in: the optimiser keeps float32
    master weights, and autocast alone decides the compute precision."""
    from transformers import AutoModel, AutoTokenizer

    quiet_transformers()
    return AutoTokenizer.from_pretrained(path), _pretrained(AutoModel, path)


# A Whisper checkpoint's encoder tensors (…ForConditionalGeneration: model.encoder.*;
# WhisperModel, …ForAudioClassification: encoder.*) as WhisperEncoder names them.
WHISPER_ENCODER_KEYS = {r"^model\.encoder\.": "", r"^encoder\.": ""}


def is_whisper(config) -> bool:
    return getattr(config, "model_type", None) == "whisper"


def load_audio_encoder(path: str):
    """(feature extractor, model), float32; the model is loaded pre-trained (the original
    built it from a config, i.e. with random weights). A CTC or classification checkpoint
    (a fine-tuned wav2vec2) gives its encoder; the head is dropped. A Whisper checkpoint
    gives its WhisperEncoder alone: the decoder's tensors are never read into memory."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    quiet_transformers()
    extractor = AutoFeatureExtractor.from_pretrained(path)
    if is_whisper(AutoConfig.from_pretrained(path)):
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        return extractor, _pretrained(WhisperEncoder, path, key_mapping=WHISPER_ENCODER_KEYS)
    return extractor, _pretrained(AutoModel, path)


def _pretrained(auto, path: str, **options):
    """auto.from_pretrained in float32, the weights the checkpoint lacks initialised from a
    fixed seed: klue/roberta-base is a masked-LM checkpoint without pooler weights, and a
    pooler drawn from the caller's RNG would differ between training, predict.py (a frozen
    encoder is not exported) and the fingerprints of two processes. The caller's RNG is
    left as it was, on every GPU too (manual_seed seeds them all)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the weight tables: load_line counts them in one line
    try:
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            torch.manual_seed(0)
            model, info = auto.from_pretrained(path, dtype=torch.float32,
                                               output_loading_info=True, **options)
    finally:
        hf_logging.set_verbosity(level)
    model.loaded_weights = {"new": len(info.get("missing_keys", ())),
                            "unused": len(info.get("unexpected_keys", ()))}
    # The parameters initialised here, not pre-trained: they learn at the head's rate
    # (kemdy.train.optim), not at lr_encoders.
    model.new_parameters = sorted(set(info.get("missing_keys", ()))
                                  & {n for n, _ in model.named_parameters()})
    return model


def load_line(modality: str, path: str, model: nn.Module, spec: dict) -> str:
    """The one log line of an encoder load: class, size, what trains, which weights the
    checkpoint lacked (initialised new) or had beyond the encoder (a head: unused)."""
    n = sum(p.numel() for p in model.parameters())
    if spec.get(f"freeze_{modality}", False):  # a sequence fusion runs it in the model
        role = "frozen (run live)" if needs_sequences(spec) else "frozen (vectors cached)"
    elif modality == "audio" and spec.get("freeze_feature_encoder", True):
        role = "trained, front end frozen"
    elif modality == "text" and spec.get("text_pooling", "pooled") == "first_token" \
            and getattr(model, "pooler", None) is not None:
        role = "trained, pooler unused"
    else:
        role = "trained"
    weights = getattr(model, "loaded_weights", {"new": 0, "unused": 0})
    return (f"{modality} encoder {type(model).__name__} from {path}: {n:,} parameters, "
            f"{role}; {weights['new']} weights new (initialised), "
            f"{weights['unused']} in the checkpoint unused")


# How a tokenizer was loaded, which save_pretrained writes into its config: HF_HUB_OFFLINE
# sets local_files_only, a folder sets is_local. Not what it does, so not in a fingerprint.
LOAD_OPTIONS = ("local_files_only", "is_local", "cache_dir", "force_download", "proxies",
                "token", "use_auth_token", "revision", "subfolder", "trust_remote_code",
                "name_or_path", "_commit_hash", "_from_auto")


def _saved_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read()
    if not path.endswith("config.json"):  # tokenizer_config.json, preprocessor_config.json
        return data
    try:
        obj = json.loads(data)
    except ValueError:
        return data
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k not in LOAD_OPTIONS}
    return json.dumps(obj, sort_keys=True).encode()


def saved_files_digest(part) -> bytes:
    """The bytes of what save_pretrained writes for a tokenizer or feature extractor: its
    whole definition, the same in every process (object addresses never enter) and however
    it was loaded (LOAD_OPTIONS left out)."""
    digest = hashlib.blake2b(digest_size=16)
    with tempfile.TemporaryDirectory() as tmp:
        part.save_pretrained(tmp)
        for name in sorted(os.listdir(tmp)):
            digest.update(name.encode())
            digest.update(_saved_bytes(os.path.join(tmp, name)))
    return digest.digest()


def encoder_fingerprint(path: str, model: nn.Module, preprocessor=None) -> str:
    """Hash of an encoder's config, weights and tokenizer / feature-extractor files: the key
    of the embedding cache, part of a checkpoint's fingerprint, and what model.json records
    for predict.py to check. Where it was loaded from (the config's _name_or_path) is left
    out: the same encoder moved, or named by hub name or by folder, is the same encoder."""
    config = json.loads(model.config.to_json_string(use_diff=False))
    config.pop("_name_or_path", None)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(config, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    if preprocessor is not None:
        digest.update(saved_files_digest(preprocessor))
    return digest.hexdigest()

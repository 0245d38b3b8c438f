"""The emotion model: pre-trained encoders (hub name or local folder), a pooled vector (or
the sequences) per modality, a fusion (concatenation by default), and the original
project's MLP head (or TMN's heads: `head`); optionally a valence/arousal output beside the
classes, and a learnt weighting of the audio encoder's layers.
"""

from __future__ import annotations

import torch
from torch import nn

from kemdy.train.alone import attention_mask, batches_as_alone, scored_alone
from kemdy.train.encoders import is_whisper
from kemdy.train.fusion import make_fusion
from kemdy.fusion_spec import HEADS, needs_sequences, options

TEXT_POOLINGS = ("pooled", "first_token")
VA_CENTRE = 3.0  # valence and arousal are rated 1-5: the output starts at the middle


def text_vector(encoder: nn.Module, input_ids, attention_mask, pooling: str = "pooled"):
    """RoBERTa's pooler output (`pooled`, as the original) or the first token's state."""
    out = encoder(input_ids=input_ids, attention_mask=attention_mask)
    if pooling == "pooled":
        if getattr(out, "pooler_output", None) is None:
            raise ValueError("the text encoder has no pooler: use text_pooling: first_token")
        return out.pooler_output
    if pooling == "first_token":
        return out.last_hidden_state[:, 0]
    raise ValueError(f"text_pooling must be one of {TEXT_POOLINGS}, not {pooling!r}")


def frame_mask(encoder: nn.Module, n_frames: int, sample_mask: torch.Tensor) -> torch.Tensor:
    """Frame-level mask of an encoder from its sample-level mask (Whisper: mel-frame mask)."""
    lengths = encoder._get_feat_extract_output_lengths(sample_mask.sum(-1)).to(torch.long)
    return torch.arange(n_frames, device=sample_mask.device)[None, :] < lengths[:, None]


def audio_vector(encoder: nn.Module, input_values, sample_mask, pass_mask: bool = True,
                 layers: str = "last", alone=None):
    """Mean over the clip's real frames (padding excluded) of the last hidden state, or with
    layers="weighted" of every hidden state: (batch, d) or (batch, layers + 1, d).

    `pass_mask` follows the feature extractor's return_attention_mask: encoders with a
    group-norm front end (wav2vec2-base) are meant to see zero padding without a mask.
    `alone` (scoring): each clip's vectors are what it gives alone (see audio_states).
    """
    hidden, mask = audio_states(encoder, input_values, sample_mask, pass_mask, layers, alone)
    mask = mask.to(hidden.dtype)[..., None]  # pool in float32 under bf16 autocast
    if layers == "weighted":
        mask = mask[:, None]  # the same frames in every layer
    return (hidden * mask).sum(-2) / mask.sum(-2).clamp(min=1.0)


def text_states(encoder: nn.Module, input_ids, attention_mask):
    """(last hidden state, token mask) for a fusion that reads the token sequence."""
    out = encoder(input_ids=input_ids, attention_mask=attention_mask)
    return out.last_hidden_state.float(), attention_mask.bool()


def audio_states(encoder: nn.Module, input_values, sample_mask, pass_mask: bool = True,
                 layers: str = "last", alone=None):
    """(frame states, frame mask) for a fusion that reads the frames: the last hidden state
    (batch, frames, d), or with layers="weighted" every layer's (batch, L + 1, frames, d).

    `alone` (scoring): the samples each clip spans alone (batches.alone_spans). With
    kemdy.train.alone's mask and hooks a clip padded beside longer ones then gets the frames
    it gets alone, so clips of any length share a scoring batch. None: as training."""
    if alone is not None and batches_as_alone(encoder.config):
        with scored_alone(encoder, alone):
            out = encoder(input_values, output_hidden_states=layers == "weighted",
                          attention_mask=attention_mask(sample_mask, alone, pass_mask))
    else:
        out = encoder(input_values, attention_mask=sample_mask if pass_mask else None,
                      output_hidden_states=layers == "weighted")
    hidden = (torch.stack(out.hidden_states, dim=1) if layers == "weighted"
              else out.last_hidden_state).float()
    return hidden, frame_mask(encoder, hidden.shape[-2], sample_mask)


def padding_sensitive(config, pass_mask: bool) -> bool:
    """Whether a clip's vectors change when it is padded beside a longer one, even with the
    attention mask (in training, and in scoring for a family kemdy.train.alone does not
    cover, which then scores it only beside clips of its own length). Measured on every family's look-alike
    (kemdy.demo.families.padding_gap, tests/test_audio_families.py): a group-norm front end
    (wav2vec2-base, HuBERT-base, WavLM-base(+), UniSpeech-SAT) normalises each channel over
    the padding too, and data2vec-audio's 5-layer positional convolution carries the
    padding's (non-zero, normalised) states into the real frames; a layer-norm front end
    with the mask (XLS-R, HuBERT-large, WavLM-large) is unmoved (< 1e-6). Without a mask
    every encoder sees the padding, except Whisper's, padded alone to 30 s."""
    if is_whisper(config):
        return False  # every clip is padded to its own 30-s window: batch-mates never enter
    return (not pass_mask or getattr(config, "feat_extract_norm", None) == "group"
            or getattr(config, "model_type", None) == "data2vec-audio")


def receptive_field(encoder: nn.Module) -> int:
    """Fewest samples that give the encoder one frame."""
    n = 1
    while int(encoder._get_feat_extract_output_lengths(torch.tensor(n))) < 1:
        n += 1
    return n


# ---------------------------------------------------------------- model


class Head(nn.Module):
    """The original classifier: Linear(h,h), LayerNorm, Dropout, ReLU, Linear(h, classes)."""

    def __init__(self, hidden: int, n_classes: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.LayerNorm(hidden),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x):
        return self.net(x)


def make_head(kind: str, width: int, n_out: int, dropout: float, hidden: int) -> nn.Module:
    """A head other than the original (fusion_spec.HEADS): its last layer gives the class
    logits and, with valence/arousal, two more outputs (as TMN's heads do)."""
    if kind == "linear":  # TMN's tensor mixer: the mixer's own last Linear gives the logits
        return nn.Linear(width, n_out)
    if kind == "gelu":  # TMN's cross-attention classifier (its first Dropout is the model's)
        return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout),
                             nn.Linear(hidden, n_out))
    raise ValueError(f"head must be one of {HEADS}, not {kind!r}")


class EmotionModel(nn.Module):
    """Text and/or audio vector -> fusion (kemdy/train/fusion.py; concatenation by default)
    -> dropout -> head -> class logits, and with `regress` a valence/arousal output: from the
    original head's last hidden layer (head: mlp), else two more outputs of the head's last
    layer (TMN). A sequence fusion (cross_attention, co_attention) reads the encoders' states
    instead of pooled vectors; a frozen encoder then runs here, without grad, in eval mode.

    An encoder is part of the model only while it trains; a frozen encoder's vectors come
    in the batch (`text_emb`, `audio_emb`) from the embedding cache instead. With
    audio_layers="weighted" the audio vector is a softmax-weighted sum of the pooled vectors
    of every layer (s3prl's featurizer), the weights learnt with the rest.
    """

    def __init__(self, n_classes: int, text_dim: int = 0, audio_dim: int = 0,
                 text_encoder: nn.Module | None = None, audio_encoder: nn.Module | None = None,
                 text_pooling: str = "pooled", pass_audio_mask: bool = True,
                 dropout: float = 0.1, audio_layers: str = "last", n_audio_layers: int = 0,
                 regress: bool = False, fusion: dict | None = None):
        super().__init__()
        if text_dim + audio_dim == 0:
            raise ValueError("the model needs at least one modality")
        if text_pooling not in TEXT_POOLINGS:
            raise ValueError(f"text_pooling must be one of {TEXT_POOLINGS}, not {text_pooling!r}")
        self.text_encoder, self.audio_encoder = text_encoder, audio_encoder
        self.text_dim, self.audio_dim = text_dim, audio_dim
        self.text_pooling, self.pass_audio_mask = text_pooling, pass_audio_mask
        self.audio_layers = audio_layers if audio_dim else "last"
        # concat has no parameters: its model draws the same initial weights as before fusion
        opts = options(fusion or {})
        self.fusion = make_fusion(opts, text_dim, audio_dim)
        self.dropout = nn.Dropout(dropout)
        self.n_classes, self.head_kind = n_classes, opts["head"]
        if self.head_kind == "mlp":
            self.head = Head(self.fusion.out_dim, n_classes, dropout)
        else:
            self.head = make_head(self.head_kind, self.fusion.out_dim,
                                  n_classes + 2 * bool(regress), dropout, opts["head_hidden"])
        # Made after the head, so a model without them starts from the same head weights.
        self.layer_weights = (nn.Parameter(torch.zeros(n_audio_layers))
                              if self.audio_layers == "weighted" else None)
        self.va = nn.Linear(self.fusion.out_dim, 2) if regress and self.head_kind == "mlp" else None
        self.regress = bool(regress)
        self.mute_audio = False  # text-only warm-up epochs (train.py)

    def audio_part(self, batch: dict) -> torch.Tensor:
        if "audio_emb" in batch:
            vec = batch["audio_emb"]
        else:
            vec = audio_vector(self.audio_encoder, batch["input_values"], batch["audio_mask"],
                               self.pass_audio_mask, self.audio_layers, self.alone(batch))
        if self.layer_weights is not None:  # (batch, layers, d) -> (batch, d)
            vec = (torch.softmax(self.layer_weights, 0)[None, :, None] * vec.float()).sum(1)
        return vec

    def alone(self, batch: dict):
        """Scoring (eval mode): the samples each clip spans alone, so that it scores as
        alone in its padded batch (predict.py's one-clip batches need none)."""
        return None if self.training else batch.get("audio_alone")

    def train(self, mode: bool = True):
        """A frozen encoder inside the model (sequence fusions) stays in eval mode: no
        dropout, as when its vectors come from the embedding cache."""
        super().train(mode)
        for encoder in (self.text_encoder, self.audio_encoder):
            if encoder is not None and not any(p.requires_grad for p in encoder.parameters()):
                encoder.eval()
        return self

    def sequences(self, batch: dict):
        """(text states, audio states, text mask, audio mask) for a sequence fusion."""
        text, audio = self.text_encoder, self.audio_encoder
        with torch.set_grad_enabled(torch.is_grad_enabled() and
                                    any(p.requires_grad for p in text.parameters())):
            t, t_mask = text_states(text, batch["input_ids"], batch["attention_mask"])
        with torch.set_grad_enabled(torch.is_grad_enabled() and
                                    any(p.requires_grad for p in audio.parameters())):
            a, a_mask = audio_states(audio, batch["input_values"], batch["audio_mask"],
                                     self.pass_audio_mask, self.audio_layers, self.alone(batch))
        if self.layer_weights is not None:  # outside no_grad: the weights train either way
            a = (torch.softmax(self.layer_weights, 0)[None, :, None, None] * a).sum(1)
        return t, a, t_mask, a_mask

    def fused(self, batch: dict) -> torch.Tensor:
        """The fusion's features: what the head (and the valence/arousal output) reads.
        Muting (text-only warm-up) multiplies the audio vector or states by 0.0: no signal,
        but every parameter stays in the graph, as DDP needs."""
        dtype = next(self.head.parameters()).dtype
        if self.fusion.sequences:
            t, a, t_mask, a_mask = self.sequences(batch)
            if self.mute_audio:
                a = a * 0.0
            return self.fusion(t.to(dtype), a.to(dtype), t_mask, a_mask)
        parts = []
        if self.text_dim:
            if "text_emb" in batch:
                parts.append(batch["text_emb"])
            else:
                parts.append(text_vector(self.text_encoder, batch["input_ids"],
                                         batch["attention_mask"], self.text_pooling))
        if self.audio_dim:
            parts.append(self.audio_part(batch))
        if self.mute_audio and self.text_dim and self.audio_dim:
            parts[1] = parts[1] * 0.0  # not zeros_like: DDP wants a trainable encoder in the graph
        return self.fusion(*[p.to(dtype) for p in parts])

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(class logits, valence/arousal on the 1-5 scale or None)."""
        if self.head_kind != "mlp":
            out = self.head(self.dropout(self.fused(batch)))
            logits, va = out[:, :self.n_classes], out[:, self.n_classes:]
            return logits, va + VA_CENTRE if self.regress else None
        features = self.head.net[:-1](self.dropout(self.fused(batch)))
        logits = self.head.net[-1](features)
        return logits, None if self.va is None else self.va(features) + VA_CENTRE

    def learnt_layer_weights(self) -> list[float] | None:
        if self.layer_weights is None:
            return None
        return torch.softmax(self.layer_weights.detach().float(), 0).cpu().tolist()


def apply_freezing(text_encoder, audio_encoder, spec: dict, dist=None) -> None:
    """freeze_text / freeze_audio freeze a whole encoder; freeze_feature_encoder freezes
    wav2vec2's convolutional front end (its waveform filters, kept as pre-trained);
    gradient_checkpointing recomputes a trained encoder's activations in the backward pass;
    audio_layers: weighted turns LayerDrop off (keep_every_layer)."""
    if text_encoder is not None:
        text_encoder.requires_grad_(not spec.get("freeze_text", False))
        unpooled = spec.get("text_pooling", "pooled") == "first_token" or needs_sequences(spec)
        if unpooled and hasattr(text_encoder, "pooler") and text_encoder.pooler is not None:
            text_encoder.pooler.requires_grad_(False)  # unused: keep it out of the optimiser
    if audio_encoder is not None:
        audio_encoder.requires_grad_(not spec.get("freeze_audio", False))
        if is_whisper(audio_encoder.config):  # fixed sinusoids, never trained (as Whisper's)
            audio_encoder.embed_positions.requires_grad_(False)
        if spec.get("freeze_feature_encoder", True) and not spec.get("freeze_audio", False):
            freeze_front_end(audio_encoder)
        if spec.get("audio_layers", "last") == "weighted":
            keep_every_layer(audio_encoder, dist)
    if spec.get("gradient_checkpointing"):  # trade compute for memory in trained encoders
        for encoder in (text_encoder, audio_encoder):
            if encoder is not None and any(p.requires_grad for p in encoder.parameters()):
                # transformers 5's name; gradient_checkpointing_enable warns it is deprecated
                encoder.activation_checkpointing_enable(
                    activation_checkpointing_kwargs={"use_reentrant": False})


def freeze_front_end(audio_encoder) -> None:
    """Freeze the convolutional front end of any wav2vec2-family encoder.

    Not through freeze_feature_encoder(): HubertModel and UniSpeechSatModel lack it, and
    calling it only where it exists silently trained their front end. Every family keeps
    the front end as `feature_extractor`, whose _freeze_parameters also stops it asking
    for input gradients (gradient checkpointing); Whisper's is conv1 + conv2. A class
    without one is an error."""
    if is_whisper(audio_encoder.config):  # two convolutions over the log-mel frames
        audio_encoder.conv1.requires_grad_(False)
        audio_encoder.conv2.requires_grad_(False)
        return
    front = getattr(audio_encoder, "feature_extractor", None)
    if not isinstance(front, nn.Module) or not any(True for _ in front.parameters()):
        from kemdy.errors import InputError

        raise InputError("--spec", f"{type(audio_encoder).__name__} has no convolutional "
                         "front end (feature_extractor) to freeze",
                         "set freeze_feature_encoder: false, or use a wav2vec2-family encoder",
                         key="freeze_feature_encoder")
    freeze = getattr(front, "_freeze_parameters", None)
    if freeze is not None:
        freeze()
    else:
        front.requires_grad_(False)


def layerdrop_key(config) -> str:
    """The config key of an audio encoder's LayerDrop rate (Whisper names it its own way)."""
    return "encoder_layerdrop" if is_whisper(config) else "layerdrop"


def layerdrop_rate(config) -> float:
    return float(getattr(config, layerdrop_key(config), 0.0) or 0.0)


def keep_every_layer(audio_encoder, dist=None) -> None:
    """LayerDrop off (config.layerdrop = 0) for a learnt weighting of the layers.

    While training, a dropped layer records no hidden state, so fewer than layers + 1 come
    back and the weighted sum cannot be formed (wav2vec2-base ships layerdrop 0.1: a
    12-layer model drops a layer in ~72 % of steps). Turning it off rather than passing a
    dropped layer's input through as its state: each weight then always sees its own
    layer, in training as in evaluation (a pass-through would teach weight k a mixture of
    layers k and k-1 that scoring never sees); transformers records hidden states by hooks
    on the layer classes, which a wrapper would bypass; and it is what s3prl's weighted-
    layer featurizer does with these encoders. The cost is LayerDrop's regularisation, a
    small one in fine-tuning. A frozen encoder loses nothing (eval mode never drops)."""
    config = audio_encoder.config
    rate = layerdrop_rate(config)
    if rate > 0:
        setattr(config, layerdrop_key(config), 0.0)
        if isinstance(getattr(audio_encoder, "layerdrop", None), float):
            audio_encoder.layerdrop = 0.0  # Whisper copies the rate at construction
        from kemdy.train.distributed import log

        log(f"audio_layers: weighted: LayerDrop {rate:g} of {type(audio_encoder).__name__} "
            "turned off (every layer's state is needed in every step)", dist)


def build_model(spec: dict, task, encoders: dict, shape: dict, device, dist):
    """The model of a job's spec, and the module the loop trains (DDP-wrapped across
    several processes). `shape` is kemdy.train.inputs.prepare_inputs's."""
    model = EmotionModel(len(task.classes), shape["text_dim"], shape["audio_dim"],
                         encoders.get("text"), encoders.get("audio"), spec["text_pooling"],
                         shape.get("pass_audio_mask", True), float(spec["dropout"]),
                         spec["audio_layers"], shape["n_audio_layers"],
                         regress=float(spec["va_weight"]) > 0 and task.stage != 2,
                         fusion=spec).to(device)
    if dist.world == 1:
        return model, model
    # LayerDrop skips whole layers in some steps: DDP must look for them.
    audio = encoders.get("audio")
    layerdrop = audio is not None and layerdrop_rate(audio.config) > 0
    return model, torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=layerdrop)


def parameter_counts(model, inputs) -> dict:
    """{trainable, frozen} of the model as trained; frozen includes the encoders whose
    vectors came from the embedding cache (not in the model, but part of what it is)."""
    counts = {"trainable": 0, "frozen": int(getattr(inputs, "cached_parameters", 0))}
    for p in model.parameters():
        counts["trainable" if p.requires_grad else "frozen"] += p.numel()
    return counts

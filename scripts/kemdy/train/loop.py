"""The training loop's parts: precision, the learning-rate schedule, batches fed by a
DataLoader, one epoch (with gradient accumulation), batched prediction (optionally the mean
over windows of a whole clip), the table of a model's predictions and their scores."""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from kemdy.classes import EMOTIONS
from kemdy.cpus import available_cpus
from kemdy.metrics import headline, score_predictions
from kemdy.train.alone import batches_as_alone
from kemdy.train.batches import Inputs, eval_batches, window_offsets
from kemdy.train.data import Task
from kemdy.train.distributed import Dist
from kemdy.train.losses import probabilities
from kemdy.train.models import padding_sensitive


@dataclass
class Runtime:
    """Where and how a job computes (none of it changes the model it learns, on CPU)."""

    device: torch.device
    amp: torch.dtype | None = None  # autocast dtype on CUDA; None: full precision
    scaler: object = None  # a GradScaler, with float16 autocast only
    workers: int = 0  # DataLoader worker processes
    show: bool = True  # progress bars (rank 0)


def precision(device) -> tuple[torch.dtype | None, object]:
    """(autocast dtype, GradScaler): bfloat16 where the GPU has it natively (Ampere and
    newer), else float16 with a GradScaler (V100, T4 only emulate bfloat16); none on the CPU,
    so reruns there are bit-identical. TF32 matmuls are allowed on CUDA."""
    if torch.device(device).type != "cuda":
        return None, None
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def runtime_for(dist: Dist, workers: str = "auto") -> tuple[Runtime, str]:
    """(Runtime, device name): the device, its precision and the data workers (none on the
    CPU, where they would take cores from the model)."""
    if torch.cuda.is_available():
        device = torch.device("cuda", dist.local_rank)
        name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        device, name = torch.device("cpu"), f"cpu ({threads} thread{'s' * (threads > 1)})"
    amp, scaler = precision(device)
    n = int(workers) if workers != "auto" else (min(4, available_cpus() - 1) if amp else 0)
    return Runtime(device, amp, scaler, max(n, 0), dist.main), \
        name + (f" x{dist.world} (DDP)" if dist.world > 1 else "")


def autocast(runtime: Runtime):
    if runtime.amp is None:
        return torch.autocast("cpu", enabled=False)
    return torch.autocast("cuda", dtype=runtime.amp)


def cosine_with_warmup(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to the base rate, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _Batches(torch.utils.data.Dataset):
    """Each item is one whole batch, collated on the CPU (in a worker process if any)."""

    def __init__(self, inputs: Inputs, batches, epoch: int = 0, offsets=None):
        self.inputs, self.batches, self.epoch, self.offsets = inputs, batches, epoch, offsets

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        offsets = None if self.offsets is None else self.offsets[i]
        return self.inputs.collate(self.batches[i], self.epoch, offsets)


def feed(inputs: Inputs, batches, runtime: Runtime, epoch: int = 0, offsets=None):
    """The batches on the device: collated by DataLoader workers into pinned memory, copied
    without blocking the host."""
    # Its own generator: a DataLoader draws its workers' base seed from the global RNG
    # otherwise, which would move the dropout masks of everything after it.
    loader = torch.utils.data.DataLoader(
        _Batches(inputs, batches, epoch, offsets), batch_size=None, shuffle=False,
        num_workers=runtime.workers, pin_memory=runtime.device.type == "cuda",
        generator=torch.Generator())
    for batch in loader:
        yield {k: v.to(runtime.device, non_blocking=True) for k, v in batch.items()}


def run_epoch(model, inputs: Inputs, batches, criterion, optimizer, scheduler, grad_clip: float,
              runtime: Runtime, epoch: int = 0, accumulate: int = 1, desc: str = "train",
              done: int = 0, carried: float = 0.0, stop=None) -> tuple[float, int]:
    """One pass over the training batches from batch `done` on (a resumed epoch; `carried`
    is the loss summed before it). Returns (the loss summed over the items of the batches
    done, batches done): all of them, or fewer when stop() asked to stop after a step.

    With accumulate > 1 each batch is cut into that many micro-batches whose gradients add
    up (each loss weighted by its share of the batch) before one optimiser step: the
    effective batch stays batch_size while memory holds only a micro-batch. The loss is
    summed on the device (float32), so the host never waits for it inside the epoch.
    """
    model.train()
    total = torch.tensor(carried, dtype=torch.float32, device=runtime.device)
    micro = [(i, part) for i, b in enumerate(batches) if i >= done
             for part in np.array_split(b, min(accumulate, len(b)))]
    bar = tqdm(total=len(batches), initial=done, desc=desc, file=sys.stderr,
               disable=not runtime.show, mininterval=2.0)
    optimizer.zero_grad(set_to_none=True)
    for k, batch in enumerate(feed(inputs, [part for _, part in micro], runtime, epoch)):
        i, part = micro[k]
        with autocast(runtime):
            outputs = model(batch)
        loss = criterion(outputs, batch)
        scaled = loss * (len(part) / len(batches[i]))
        (runtime.scaler.scale(scaled) if runtime.scaler else scaled).backward()
        total += loss.detach().float() * len(part)
        if k + 1 == len(micro) or micro[k + 1][0] != i:  # the batch's last micro-batch
            step(model, optimizer, scheduler, grad_clip, runtime.scaler)
            bar.update()
            done = i + 1
            if stop is not None and done < len(batches) and stop():
                break
    bar.close()
    return float(total), done


def step(model, optimizer, scheduler, grad_clip: float, scaler) -> None:
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def scoring_views(inputs: Inputs, rows: np.ndarray, windows: bool) -> tuple[np.ndarray, list]:
    """(row of each view, audio offset of each view): one view per row, cut as in training
    (random cuts become centred), or with `windows` one per window covering the clip."""
    if not windows or inputs.clip_lengths is None:
        offsets = inputs.offsets(rows, 0, scoring=True) if inputs.clip_lengths is not None \
            else [0] * len(rows)
        return rows, offsets
    views = [(r, o) for r in rows for o in window_offsets(int(inputs.clip_lengths[r]),
                                                          inputs.max_samples)]
    return np.array([r for r, _ in views], dtype=np.int64), [o for _, o in views]


def scores_unpadded(inputs, model) -> bool:
    """A trained encoder whose vectors padding moves even in scoring (a family outside
    kemdy.train.alone.EXACT: none the workflow accepts): clips share a scoring batch only
    with clips of their own length, so a clip's figures never depend on the clips beside
    it, as in predict.py (one clip at a time)."""
    if inputs.audio is None or inputs.audio_emb is not None:
        return False
    config = model.audio_encoder.config
    return padding_sensitive(config, model.pass_audio_mask) and not batches_as_alone(config)


@torch.no_grad()
def predict(model, inputs: Inputs, rows, kind: str, batch_size: int, runtime: Runtime,
            criterion=None, dist: Dist = Dist(), windows: bool = False,
            max_samples: int | None = None, one_length: bool = False):
    """(probabilities, valence/arousal or None, mean loss) of `rows`, in that order.

    Batched and length-sorted; under DDP each rank scores a share and all gather it. With
    `windows` a row's figures are the means over the windows of its whole clip.
    `one_length`: clips share a batch only with clips of their length and score without
    kemdy.train.alone's hooks, as scores_unpadded decides for an encoder that needs it, and
    as every group-norm encoder was scored before (bench gpu times both ways).
    """
    model.eval()
    unpadded = one_length or scores_unpadded(inputs, model)
    rows = np.asarray(rows)
    view_rows, view_offsets = scoring_views(inputs, rows, windows)
    lengths = inputs.lengths[view_rows]
    order = eval_batches(lengths, np.arange(len(view_rows)), batch_size, max_samples, unpadded,
                         inputs.costs[view_rows])
    batches = order[dist.rank::dist.world]
    done, outs, loss_sum = [], [], 0.0
    offsets = [[view_offsets[v] for v in b] for b in batches]
    for b, batch in zip(batches, feed(inputs, [view_rows[b] for b in batches], runtime,
                                      offsets=offsets)):
        if unpadded:  # no padding to score around: as the encoder scores one length
            batch.pop("audio_alone", None)
        with autocast(runtime):
            logits, va = model(batch)
        if criterion is not None:
            loss_sum += float(criterion((logits, va), batch)) * len(b)
        done.append(b)
        outs.append((probabilities(kind, logits).cpu().numpy(),
                     None if va is None else va.float().cpu().numpy()))
    parts = dist.gather((done, outs, loss_sum))
    n_views = len(view_rows)
    probs = np.zeros((n_views, len(inputs.task.classes)))
    vas = np.full((n_views, 2), np.nan)
    for part_done, part_outs, _ in parts:
        for b, (p, v) in zip(part_done, part_outs):
            probs[b] = p
            if v is not None:
                vas[b] = v
    return (*mean_over_views(rows, view_rows, probs, vas),
            sum(p[2] for p in parts) / max(n_views, 1))


def mean_over_views(rows, view_rows, probs, vas):
    """Per row, the mean of its views' probabilities and valence/arousal (None without)."""
    where = {r: i for i, r in enumerate(rows)}
    slot = np.array([where[r] for r in view_rows])
    counts = np.bincount(slot, minlength=len(rows))[:, None]
    mean_p = np.zeros((len(rows), probs.shape[1]))
    np.add.at(mean_p, slot, probs)
    mean_va = np.zeros((len(rows), 2))
    np.add.at(mean_va, slot, vas)
    return mean_p / counts, (None if np.isnan(vas).all() else mean_va / counts)


def predictions_frame(task: Task, rows, probs: np.ndarray, va=None) -> pd.DataFrame:
    """segment_id, label, pred, prob_<class> (and with a valence/arousal model valence,
    arousal, pred_valence, pred_arousal). Stage 1's label is neutral / not_neutral;
    otherwise the segment's own label (stage 2 predicts every test segment)."""
    frame = task.frame.iloc[rows]
    labels = [task.classes[task.y[i]] for i in rows] if task.stage == 1 else frame["label"].tolist()
    df = pd.DataFrame({"segment_id": frame["segment_id"].to_numpy(), "label": labels,
                       "pred": [task.classes[j] for j in probs.argmax(axis=1)]})
    for j, c in enumerate(task.classes):
        df[f"prob_{c}"] = probs[:, j]
    if va is not None:
        df["valence"], df["arousal"] = task.va[rows, 0], task.va[rows, 1]
        df["pred_valence"], df["pred_arousal"] = va[:, 0], va[:, 1]
    return df


def val_scores(task: Task, rows, probs) -> dict:
    df = predictions_frame(task, rows, probs)
    with warnings.catch_warnings():  # an early model predicts classes absent from the labels
        warnings.simplefilter("ignore", UserWarning)
        return headline(df["label"], df["pred"])


def score_test(task: Task, predictions: pd.DataFrame, temperature: float | None = None) -> dict:
    """metrics.json's figures of the test fold (kemdy.metrics.score_predictions): stage 2 is
    judged on the segments it is meant for, those whose true label is an emotion. With a
    `temperature` (kemdy/train/calibration.py) also the calibrated probabilities' figures."""
    scored = predictions
    if task.stage == 2:
        scored = predictions[predictions["label"].isin(EMOTIONS)]
    with warnings.catch_warnings():  # classes absent from the labels or the predictions
        warnings.simplefilter("ignore", UserWarning)
        return score_predictions(scored, task.classes, temperature)

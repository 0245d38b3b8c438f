"""How a training job starts: the seconds before its first epoch, and the imports they go to.

    python -m bench startup

A toy workspace (kemdy.demo.toy_corpus: tiny encoders of the demo's families, RoBERTa and
wav2vec2) and two one-epoch jobs run as the workflow runs them (scripts/train.py --spec,
HF_HUB_OFFLINE=1, one thread): text_ce's settings, and mm_ce's (text + a frozen audio
encoder whose vectors come from the embedding cache, filled by an untimed first run as one
job fills it for the others in the workflow). Each job runs REPEAT times, timed from the
process start to its first epoch's progress bar and to its exit, then REPEAT times under
`python -X importtime`: each module's own import time goes to the package that pulled it
in (the first module outside kemdy on its import chain: torch._dynamo, imported by
transformers' model code, counts for transformers). importtime sees `import` statements
only: a module loaded by importlib.import_module (transformers loads its model classes so)
is missing, though not what it imports. Prints the medians and writes
results/bench/startup.json. CPU only; about a minute.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, write_result
from kemdy.demo.toy_corpus import toy_workspace, train_args

REPO = Path(__file__).resolve().parents[1]
REPEAT = 3
JOBS = {"text_ce": {"modality": "text", "loss": "ce"},
        "mm_ce": {"modality": "text+audio", "loss": "ce", "freeze_audio": True}}
FIRST_EPOCH = b"epoch 1/"  # the first epoch's progress bar (kemdy.train.loop.run_epoch)


def run_job(argv: list[str], importtime: bool = False) -> tuple[float, float, str]:
    """(seconds to the first epoch, seconds to the exit, stderr) of one train.py process."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []),
               str(REPO / "scripts" / "train.py"), *argv]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    seen, first = b"", None
    while chunk := child.stderr.read1(65536):
        seen += chunk
        if first is None and FIRST_EPOCH in seen:
            first = time.perf_counter() - start
    child.wait()
    total = time.perf_counter() - start
    text = seen.decode(errors="replace")
    if child.returncode or first is None:
        raise RuntimeError(f"train.py exited {child.returncode}:\n{text[-3000:]}")
    return first, total, text


def import_seconds(stderr: str) -> dict[str, float]:
    """`-X importtime`'s self times summed by the package that pulled each module in."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, _, name = line[len("import time:"):].split("|")
            rows.append(((len(name) - len(name.lstrip()) - 1) // 2, name.strip(), int(own)))
    totals: dict[str, float] = {}
    chain: list[str] = []
    for depth, name, own in reversed(rows):  # reversed: every parent before its children
        chain[depth:] = [name]
        roots = [n.split(".")[0] for n in chain]
        by = next((r for r in roots if r != "kemdy"), "kemdy")
        by = "stdlib" if by in sys.stdlib_module_names else by
        totals[by] = totals.get(by, 0.0) + own / 1e6
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def measure(ws: dict, tmp: str, name: str, spec: dict, repeat: int) -> dict:
    """Medians over `repeat` runs of a one-epoch job, each in a run folder of its own."""
    argvs = [train_args(ws, os.path.join(tmp, name, str(i)), name, {**spec, "epochs": 1},
                        cache_dir=os.path.join(tmp, "cache"))  # shared, as in the workflow
             for i in range(2 * repeat + 1)]
    run_job(argvs[-1])  # untimed: fills the embedding cache
    plain = [run_job(argv)[:2] for argv in argvs[:repeat]]
    traced = [import_seconds(run_job(argv, importtime=True)[2])
              for argv in argvs[repeat:2 * repeat]]
    packages = {p: round(statistics.median(t.get(p, 0.0) for t in traced), 3)
                for p in traced[0]}
    return {"first_epoch_s": round(statistics.median(f for f, _ in plain), 3),
            "exit_s": round(statistics.median(t for _, t in plain), 3),
            "imports_s": round(statistics.median(sum(t.values()) for t in traced), 3),
            "imports_by_package_s": packages}


def run(out_dir: str = "results/bench", repeat: int = REPEAT) -> dict:
    result = {"machine": machine(), "repeat": repeat, "jobs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        ws = toy_workspace(os.path.join(tmp, "ws"), n_sessions=4, per_session=15)
        for name, spec in JOBS.items():
            result["jobs"][name] = job = measure(ws, tmp, name, spec, repeat)
            top = ", ".join(f"{p} {s:.2f}"
                            for p, s in list(job["imports_by_package_s"].items())[:6])
            print(f"{name}: first epoch after {job['first_epoch_s']:.2f} s, exit "
                  f"{job['exit_s']:.2f} s; imports {job['imports_s']:.2f} s ({top})")
    write_result(out_dir, "startup", result)
    return result

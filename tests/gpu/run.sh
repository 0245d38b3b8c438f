#!/usr/bin/env bash
# The GPU check, one command on a machine with CUDA (README: "GPU check"):
#   bash tests/gpu/run.sh            # pytest -m gpu, then bench gpu, bench fusion, bench grid
#   bash tests/gpu/run.sh --tests    # the tests only
# Everything lands in bench/results/gpu-<date>-<card>/: pytest.log and junit.xml, the tests'
# figures (*.json, tiny-runs/ for bench grid --stopping), gpu.json, fusion.json, the card
# table card-<card>.json and grid-kemdy20.json. Exit status: the tests'.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
card=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no-cuda')" \
       | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/-$//')
out="bench/results/gpu-$(date +%F)-$card"
mkdir -p "$out"
export KEMDY_GPU_RESULTS="$out"
"$PY" -m pytest -m gpu tests/gpu -v -rs -p no:cacheprovider --junitxml="$out/junit.xml" \
    2>&1 | tee "$out/pytest.log"
status=${PIPESTATUS[0]}
if [ "${1:-}" != "--tests" ]; then
    "$PY" -m bench gpu --out-dir "$out" 2>&1 | tee "$out/bench-gpu.log"
    "$PY" -m bench fusion --out-dir "$out" 2>&1 | tee "$out/bench-fusion.log"
    "$PY" -m bench.cards "$out/gpu.json" --fusion-json "$out/fusion.json" --out-dir "$out"
    stopping=()
    [ -d "$out/tiny-runs" ] && stopping=(--stopping "$out/tiny-runs")
    for config in kemdy20 fusion-kemdy20 tmn-kemdy19-20; do
        "$PY" -m bench grid --configfile "configs/$config.yaml" --cards "$out"/card-*.json \
            --gpus 2 --gpu-mem 24 --goal-hours 2 "${stopping[@]}" --out-dir "$out" \
            2>&1 | tee "$out/grid-$config.log"
    done
fi
echo "results: $out (tests exit status $status)"
exit "$status"

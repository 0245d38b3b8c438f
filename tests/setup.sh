#!/usr/bin/env bash
# Test set-up on a fresh machine: the venv with requirements.txt, Debian's chromium for the
# report's browser test and slurm-wlm + munge for tests/test_slurm.py's one-node cluster
# (best effort, both: a test whose packages are missing skips, saying why).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup: chromium not installed (needs root + apt-get); the browser test will be skipped" >&2
  fi
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # Installs only what is missing (quiet); on failure it says why, and the test skips.
  bash tests/slurm/cluster.sh install ||
    echo "setup: could not install the SLURM packages; tests/test_slurm.py will be skipped" >&2
elif ! command -v slurmctld >/dev/null 2>&1; then
  echo "setup: SLURM not installed (needs root + apt-get); tests/test_slurm.py will be skipped" >&2
fi

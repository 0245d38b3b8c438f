#!/usr/bin/env bash
# A real one-node SLURM cluster on this Debian machine, for tests that submit Snakemake jobs.
#
#   bash tests/slurm/cluster.sh install   # apt-get slurm-wlm + munge (skipped when present)
#   bash tests/slurm/cluster.sh start     # write configs, start munged/slurmctld/slurmd, wait for idle
#   bash tests/slurm/cluster.sh status    # exit 0 when the cluster accepts jobs
#   bash tests/slurm/cluster.sh stop      # cancel jobs, stop the daemons
#
# The node is this host (`hostname -s`) with its real CPUs and memory (`slurmd -C`) and two
# fake GPUs: character devices /dev/kemdy-fakegpu{0,1} (clones of /dev/null), declared in
# gres.conf, so `--gpus=N` jobs get CUDA_VISIBLE_DEVICES. No accounting database: `sacct`
# does not work, `squeue` does (finished jobs stay listed for MinJobAge=300 s).
# No systemd: the daemons are started directly; pid and log files live in $KEMDY_SLURM_STATE.
# When it cannot run (not root, no apt-get, ...) it prints one line "cluster.sh: ..." and exits 2.
set -euo pipefail

STATE=${KEMDY_SLURM_STATE:-/var/lib/kemdy-slurm}
CONF=/etc/slurm # Debian's compiled-in config dir: every client finds slurm.conf without SLURM_CONF
HOST=$(uname -n) && HOST=${HOST%%.*} # = `hostname -s`, the name slurmd registers as
WAIT_S=${KEMDY_SLURM_WAIT_S:-60}
NGPU=2

die() { echo "cluster.sh: $*" >&2; exit 2; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"; }
need_bins() {
  local b
  for b in munged slurmctld slurmd sinfo scontrol; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found; run '$0 install' first"
  done
}
# Pid file names a live process (not a zombie: here PID 1 may never reap orphans).
alive() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && ps -o stat= -p "$p" 2>/dev/null | grep -vq '^Z'; }

install() {
  need_root
  # slurm-wlm = slurmctld + slurmd + slurm-client (sinfo, sbatch, ...); all four installed: skip.
  if [ "$(dpkg-query -W -f='${Status}\n' slurmctld slurmd slurm-client munge 2>/dev/null |
    grep -c '^install ok installed$')" != 4 ]; then
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: cannot install slurm-wlm"
    # Keep package scripts from starting services (no init system here); restore afterwards.
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1; fi
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge)
    "${apt[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && "${apt[@]}" >/dev/null; } ||
      { [ -z "$made_policy" ] || rm -f $policy; die "apt-get install slurm-wlm munge failed"; }
    [ -z "$made_policy" ] || rm -f $policy
  fi
  need_bins
}

# Cluster accepts and runs jobs: daemons alive, controller answers, node up and not drained.
status() {
  command -v scontrol >/dev/null 2>&1 && alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid" || return 1
  timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP' || return 1
  timeout 10 sinfo -h -n "$HOST" -o %T 2>/dev/null | grep -Eqx 'idle|mixed|allocated|completing'
}

write_configs() {
  mkdir -p "$CONF" "$STATE/ctld" "$STATE/spool"
  # Hardware line as slurmd sees it, e.g. "CPUs=2 Boards=1 ... ThreadsPerCore=1 RealMemory=24105".
  local hw
  hw=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
  [ -n "$hw" ] || die "slurmd -C printed no node configuration"
  cat >"$CONF/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh: a one-node test cluster, overwritten on each start.
ClusterName=kemdy
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=cred_expire=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# Cores are consumable, memory is only checked against the node (no DefMem needed).
SelectTypeParameters=CR_Core
GresTypes=gpu
SchedulerType=sched/backfill
# Schedule on every event (sbatch jobs start within a second) and retry pending jobs every 1-2 s.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Reject at submission what can never run here (e.g. more CPUs than the node has) instead of pending.
EnforcePartLimits=ALL
# Batch jobs may be requeued (scontrol requeue, node failure).
JobRequeue=1
ReturnToService=2
MinJobAge=300
KillWait=5
SlurmdTimeout=60
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 $hw Gres=gpu:$NGPU State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  {
    echo "# Written by tests/slurm/cluster.sh: two fake GPUs (character devices)."
    echo "AutoDetect=off"
    for i in $(seq 0 $((NGPU - 1))); do echo "NodeName=$HOST Name=gpu File=/dev/kemdy-fakegpu$i"; done
  } >"$CONF/gres.conf"
  # Character devices, as slurmd rejects regular files; 1,3 is /dev/null's major/minor.
  local dev
  for i in $(seq 0 $((NGPU - 1))); do
    dev=/dev/kemdy-fakegpu$i
    [ -c "$dev" ] || { rm -f "$dev"; mknod -m 666 "$dev" c 1 3; }
  done
  # Munge key (shared secret of all daemons and clients), made once.
  mkdir -p /etc/munge "$STATE/munge" /run/munge
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge /etc/munge/munge.key "$STATE/munge" /run/munge
  chmod 700 /etc/munge "$STATE/munge"
  chmod 400 /etc/munge/munge.key
  chmod 755 /run/munge
}

start_daemons() {
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" \
      --seed-file="$STATE/munge/munged.seed" || die "munged failed to start (see $STATE/munge/munged.log)"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  # -c: a clean controller (no jobs from an earlier run); the daemons fork into the background.
  alive "$STATE/slurmctld.pid" || slurmctld -c || die "slurmctld failed to start (see $STATE/slurmctld.log)"
  alive "$STATE/slurmd.pid" || slurmd || die "slurmd failed to start (see $STATE/slurmd.log)"
}

# Wait until the node is idle (or busy with jobs: mixed/allocated); resume it when down/drained.
wait_ready() {
  local t0=$SECONDS state d
  while ((SECONDS - t0 < WAIT_S)); do
    status && return 0
    for d in slurmctld slurmd; do # a daemon that wrote its pid file and died: fail now
      [ ! -s "$STATE/$d.pid" ] || alive "$STATE/$d.pid" || { state="$d died"; break 2; }
    done
    state=$(timeout 10 sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    case "$state" in down* | drain* | fail*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;; esac
    sleep 0.5
  done
  echo "--- $STATE/slurmctld.log" >&2; tail -5 "$STATE/slurmctld.log" >&2 2>/dev/null || true
  echo "--- $STATE/slurmd.log" >&2; tail -5 "$STATE/slurmd.log" >&2 2>/dev/null || true
  die "node $HOST not usable after $((SECONDS - t0))s (${state:-no answer from slurmctld}; logs above)"
}

start() {
  need_root
  need_bins
  if ! status; then
    mkdir -p "$STATE"
    # Configs are rewritten only while slurmctld is down (it reads them at start).
    alive "$STATE/slurmctld.pid" || write_configs
    start_daemons
  fi
  wait_ready
  echo "cluster.sh: SLURM up: node $HOST, $(sinfo -h -n "$HOST" -o '%c CPUs, %m MB, %G') ($STATE)"
}

stop() {
  need_root
  if command -v squeue >/dev/null 2>&1 && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; then
    local jobs
    jobs=$(squeue -h -o %i -t PD,R,CG,S,RQ 2>/dev/null || true)
    # shellcheck disable=SC2086 # one argument per job id
    [ -z "$jobs" ] || scancel $jobs 2>/dev/null || true
    for _ in $(seq 40); do [ -z "$(squeue -h -o %i -t R,CG 2>/dev/null)" ] && break; sleep 0.25; done
  fi
  local d pidfile pid
  for d in slurmd slurmctld munge/munged; do
    pidfile="$STATE/$d.pid"
    alive "$pidfile" || { rm -f "$pidfile"; continue; }
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do alive "$pidfile" || break; sleep 0.1; done
    ! alive "$pidfile" || kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  echo "cluster.sh: SLURM stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 64 ;;
esac

#!/usr/bin/env bash
# Submit one Snakemake job script; print the scheduler's job id on stdout.
# Arguments: rule threads mem_mb runtime_minutes gpus jobscript
# KEMDY_SCHEDULER picks the command: sge (default), pbs, lsf, or local (runs the job in the
# background on this machine: for tests and for trying the profile without a cluster).
# No SLURM branch on purpose: use profiles/slurm. Its executor plugin polls SLURM for each
# job's state (CANCELLED, TIMEOUT, NODE_FAIL, REQUEUED ...), so failed jobs are retried and
# requeued ones waited for; a generic submit command cannot see any of that.
set -euo pipefail
rule=$1 threads=$2 mem_mb=$3 runtime=$4 gpus=$5 jobscript=$6
mkdir -p logs/cluster
out="logs/cluster/${rule}-%j.out"
case "${KEMDY_SCHEDULER:-sge}" in
  sge)
    gpu_opt=(); [ "$gpus" -gt 0 ] && gpu_opt=(-l "gpu=$gpus")
    qsub -terse -cwd -V -N "$rule" -pe smp "$threads" -l "h_vmem=${mem_mb}M,h_rt=$((runtime * 60))" \
      "${gpu_opt[@]}" -o logs/cluster -j y "$jobscript"
    ;;
  pbs)
    qsub -N "$rule" -l "select=1:ncpus=$threads:mem=${mem_mb}mb:ngpus=$gpus,walltime=$((runtime / 60)):$((runtime % 60)):00" \
      -o logs/cluster -j oe "$jobscript"
    ;;
  lsf)
    gpu_opt=(); [ "$gpus" -gt 0 ] && gpu_opt=(-gpu "num=$gpus")
    bsub -J "$rule" -n "$threads" -M "$mem_mb" -W "$runtime" "${gpu_opt[@]}" -o "$out" "$jobscript" \
      | sed -E 's/Job <([0-9]+)>.*/\1/'
    ;;
  local)
    nohup bash "$jobscript" > "logs/cluster/${rule}-$$.out" 2>&1 &
    echo $!
    ;;
  *)
    echo "submit.sh: unknown KEMDY_SCHEDULER=${KEMDY_SCHEDULER}" >&2
    exit 2
    ;;
esac

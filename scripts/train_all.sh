#!/usr/bin/env bash
# Train the whole grid of pretrained models, one background process per (model, task), in parallel:
#   (ntm sam sdnc dam dnc) × (copy associative_recall priority_sort) → pretrained/<model>-<task>/
#
# Every process runs with one thread (--threads 1, OMP_NUM_THREADS=1) and stops cleanly at
# --time-limit (or earlier, when it meets its target), writing a checkpoint. Calling the script again
# resumes every run from its training state (pretrained/<model>-<task>/train_state.safetensors)
# and continues exactly where it stopped. A directory holding a checkpoint but no training state
# (a shipped model) is never overwritten: it is skipped.
# When all runs end, every checkpoint is scored on fresh episodes and pretrained/README.md is rewritten.
#
# Environment (all optional):
#   PYTHON      interpreter with torch + safetensors + numpy       (default .venv/bin/python)
#   TIME_LIMIT  seconds per run for this call                      (default 3600)
#   MODELS      space-separated models                             (default "ntm sam sdnc dam dnc")
#   TASKS       space-separated tasks            (default "copy associative_recall priority_sort")
#   STEPS       total updates per run (default: samviz.train's per-task default)
#   SEED        seed of new runs (default 0; a resumed run keeps its own: --seed is passed to new runs
#               only, since samviz.train refuses to resume a run with settings other than its own).
#               To retry a run that missed its target with another seed: remove its directory, then
#               SEED=1 MODELS=.. TASKS=.. again
#   OUT_ROOT    where the run directories go                       (default pretrained)
#   LOG_DIR     one log file per run                               (default runs/logs)
#   EXTRA_ARGS  more arguments for every `python -m samviz.train`  (e.g. "--index exact"; a run started
#               without them is not resumed with other values: samviz.train refuses, naming them)
#   EVALUATE    1 = evaluate and rewrite pretrained/README.md at the end, 0 = don't (default 1)
#   JOBS        parallel evaluation processes                      (default 8)
#
# Example: TIME_LIMIT=7200 PYTHON=python3 scripts/train_all.sh ; then once more to continue.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
TIME_LIMIT=${TIME_LIMIT:-3600}
MODELS=${MODELS:-"ntm sam sdnc dam dnc"}
TASKS=${TASKS:-"copy associative_recall priority_sort"}
STEPS=${STEPS:-}
SEED=${SEED:-0}
OUT_ROOT=${OUT_ROOT:-pretrained}
LOG_DIR=${LOG_DIR:-runs/logs}
EXTRA_ARGS=${EXTRA_ARGS:-}
EVALUATE=${EVALUATE:-1}
JOBS=${JOBS:-8}

export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$LOG_DIR" "$OUT_ROOT"
"$PYTHON" -c "import torch, safetensors, samviz.train" || { echo "train_all: $PYTHON cannot import samviz.train" >&2; exit 1; }

names=()
pids=()
stop_all() {
  echo "train_all: stopping — every run writes its checkpoint first" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
}
trap stop_all INT TERM

for model in $MODELS; do
  for task in $TASKS; do
    name="$model-$task"
    out="$OUT_ROOT/$name"
    if [ -f "$out/model.safetensors" ] && [ ! -f "$out/train_state.safetensors" ]; then
      echo "train_all: skip $name ($out holds a checkpoint without a training state)"
      continue
    fi
    seed_args=(--seed "$SEED")
    if [ -f "$out/train_state.safetensors" ]; then seed_args=(); fi   # resumed: the run keeps its own seed
    # shellcheck disable=SC2086  # EXTRA_ARGS is a list of words on purpose
    "$PYTHON" -m samviz.train --model "$model" --task "$task" --threads 1 --time-limit "$TIME_LIMIT" \
      --out "$out" --resume "${seed_args[@]}" --log-every 200 ${STEPS:+--steps "$STEPS"} $EXTRA_ARGS \
      >>"$LOG_DIR/$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
    echo "train_all: started $name (pid $!, log $LOG_DIR/$name.log)"
  done
done

failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  status=$?
  # a trapped signal interrupts `wait`: wait again for the run to write its checkpoint
  while kill -0 "${pids[$i]}" 2>/dev/null; do wait "${pids[$i]}"; status=$?; done
  last=$(tail -n 1 "$LOG_DIR/${names[$i]}.log" 2>/dev/null)
  if [ "$status" -ne 0 ]; then
    failed=1
    echo "train_all: ${names[$i]} FAILED (exit $status): $last"
  else
    echo "train_all: ${names[$i]} done: $last"
  fi
done

if [ "$EVALUATE" = "1" ] && [ "$OUT_ROOT" = "pretrained" ]; then
  echo "train_all: evaluating every checkpoint and rewriting pretrained/README.md"
  "$PYTHON" -m samviz.evaluate --all --write-readme --write-meta --jobs "$JOBS" || failed=1
fi
exit "$failed"

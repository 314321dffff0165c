#!/usr/bin/env bash
# The dense baselines of the long-sequence curriculum (issue 26, Build item 4): the NTM and the DAM on the same
# curriculum as experiments/long_curriculum/sam-faiss-65536 (associative recall, ceiling 1,024 items, batch 8,
# lr 1e-3, threshold 0.03, window 100, validation every 100 updates on 16 episodes at h, target 0.25, seed 2001),
# warm-started from the shipped checkpoints, at the memory size the paper gave its dense models: 64 words.
#
# ONE run at a time, in turns of SLICE_S seconds each (--time-limit; the trainer saves its state at the end of a
# turn), so neither waits for the other to finish: a dense model may never reach the ceiling. A run that has
# finished (target met at the ceiling, or diverged) is skipped; the queue ends when both have.
#
#   setsid nohup nice -n 19 bash scripts/long_curriculum_dense.sh \
#       > experiments/long_curriculum/dense-queue.log 2>&1 < /dev/null &      # start or resume the queue
#   kill -TERM -- -$(cat experiments/long_curriculum/dense-queue.pid)         # stop it (the run saves its state)
#
# Each run folder's stdout.log holds the trainer's output; the queue's own lines go to dense-queue.log.
set -u
cd "$(dirname "$0")/.."
ROOT=experiments/long_curriculum
SLICE_S=${SLICE_S:-3600}
PY=${PY:-.venv/bin/python}
echo $$ > "$ROOT/dense-queue.pid"
trap 'echo "queue: stopping"; kill -TERM "$child" 2>/dev/null; wait "$child"; rm -f "$ROOT/dense-queue.pid"; exit 0' TERM INT

start_or_resume() {      # $1 model, $2 folder
    local model=$1 out=$ROOT/$2
    if [ -f "$out/train_state.json" ]; then
        "$PY" -m samviz.training.long_curriculum --out "$out" --resume --time-limit "$SLICE_S" --log-every 20 \
            >> "$out/stdout.log" 2>&1 &
    else
        mkdir -p "$out"
        "$PY" -m samviz.training.long_curriculum --out "$out" --model "$model" --task associative_recall \
            --ceiling 1024 --init-from "pretrained/$model-associative_recall" --slots 64 --batch 8 --lr 0.001 \
            --threshold 0.03 --window 100 --eval-every 100 --val-batch 16 --target 0.25 --seed 2001 \
            --start-level 2 --checkpoint-every 100 --time-limit "$SLICE_S" --log-every 20 \
            >> "$out/stdout.log" 2>&1 &
    fi
    child=$!
    wait "$child"
}

finished() {             # the run's last summary line says it finished (target met or diverged)
    tail -n 1 "$ROOT/$1/stdout.log" 2>/dev/null | grep -q '"finished": "\(target\|diverged\)"'
}

while true; do
    pending=0
    for pair in ntm:ntm-64 dam:dam-64; do
        model=${pair%%:*}
        folder=${pair#*:}
        if finished "$folder"; then
            continue
        fi
        pending=1
        echo "queue: $(date -u +%FT%TZ) $folder for up to ${SLICE_S}s"
        start_or_resume "$model" "$folder"
        status=$?
        echo "queue: $(date -u +%FT%TZ) $folder exited with status $status"
        if [ "$status" = 2 ]; then          # a refused setting, a busy run lock: turning again would not help
            echo "queue: stopping (see $ROOT/$folder/stdout.log)"
            rm -f "$ROOT/dense-queue.pid"
            exit 2
        fi
    done
    [ "$pending" = 1 ] || break
done
echo "queue: both runs finished"
rm -f "$ROOT/dense-queue.pid"

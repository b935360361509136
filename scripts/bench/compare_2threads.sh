#!/usr/bin/env bash
# 2-thread forward of two builds of ours and of transformers, interleaved per shape (BENCHMARKS.md,
# "2 threads: element-wise ops on one thread"), then the whole evaluation of the 8 bench-s models.
#
# Usage: scripts/bench/compare_2threads.sh MODELS_DIR
#   MODELS_DIR holds bench-s, bench-m, bench-l and bench-s-0 .. bench-s-7 (`bench make-model`).
# Env: BEFORE, AFTER (two bench binaries), PYTHON (a python with torch + transformers), SAMPLES.
set -euo pipefail
models=${1:?models dir}
here=$(cd "$(dirname "$0")" && pwd)
before=${BEFORE:?a bench binary}
after=${AFTER:-target/release/examples/bench}
python=${PYTHON:-python3}
samples=${SAMPLES:-../shared/fixtures/pairs.jsonl}
row() {
  python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); \
print(d['pass_seconds'], d['tokens_per_s_best'], d['tokens_per_s_median'], d['other_cores'], d['loadavg_before'])"
}
for shape in s m l; do
  echo -n "bench-$shape transformers logits b1: "
  "$python" "$here/transformers_forward.py" --threads 2 --samples "$samples" "$models/bench-$shape" 2>&1 | row
  for mode in logits score; do
    for batch in 1 8; do
      for bin in "$before" "$after"; do
        echo -n "bench-$shape $bin $mode b$batch: "
        "$bin" forward --threads 2 --model "$models/bench-$shape" --batch-size "$batch" --mode "$mode" \
          --samples "$samples" 2>&1 | row
      done
    done
  done
done
dirs=$(for i in 0 1 2 3 4 5 6 7; do printf '%s ' "$models/bench-s-$i"; done)
for bin in "$before" "$after"; do
  echo -n "eval-many 8 x bench-s, $bin: "
  # shellcheck disable=SC2086
  /usr/bin/time -f %e "$bin" eval-many --threads 2 --max-length 2048 --samples "$samples" $dirs 2>&1 | tail -1
done
echo -n "transformers_eval 8 x bench-s: "
# shellcheck disable=SC2086
/usr/bin/time -f %e "$python" "$here/transformers_eval.py" --threads 2 --max-length 2048 --samples "$samples" $dirs 2>&1 | tail -1

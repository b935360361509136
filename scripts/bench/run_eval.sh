#!/usr/bin/env bash
# Whole evaluation, from process start to results: reference losses of the 8 bench-s models
# (bench-s-0 .. bench-s-7) on pairs.jsonl, ours (one `bench eval-many` process) against
# transformers (one Python process, transformers_eval.py), threads 1 and 2, alternating, each
# after waiting (up to $WAIT_S s) for the 1-minute load average to fall below $MAX_LOAD.
# Wall seconds come from /usr/bin/time; the load average is printed next to each number.
#
# Usage: scripts/bench/run_eval.sh MODELS_DIR [REPEATS]
# Env: BENCH (our bench binary), PYTHON (python with torch + transformers), SAMPLES, MAX_LENGTH.
set -euo pipefail
models=${1:?models dir}
repeats=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-target/release/examples/bench}
python=${PYTHON:-python3}
samples=${SAMPLES:-../shared/fixtures/pairs.jsonl}
max_length=${MAX_LENGTH:-2048}
max_load=${MAX_LOAD:-0.5}
wait_s=${WAIT_S:-300}
dirs=$(for i in 0 1 2 3 4 5 6 7; do printf '%s ' "$models/bench-s-$i"; done)

wait_for_quiet() {
  local waited=0
  while awk -v m="$max_load" '{exit !($1 >= m)}' /proc/loadavg && [ "$waited" -lt "$wait_s" ]; do
    sleep 10
    waited=$((waited + 10))
  done
}

for rep in $(seq "$repeats"); do
  for threads in 1 2; do
    wait_for_quiet
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    # shellcheck disable=SC2086
    /usr/bin/time -f "ours threads=$threads rep=$rep wall_s=%e load=[$load]" \
      "$bench" eval-many --threads "$threads" --max-length "$max_length" --samples "$samples" $dirs >/tmp/ours-eval.jsonl
    wait_for_quiet
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    # shellcheck disable=SC2086
    /usr/bin/time -f "transformers threads=$threads rep=$rep wall_s=%e load=[$load]" \
      "$python" "$here/transformers_eval.py" --threads "$threads" --max-length "$max_length" --samples "$samples" \
      $dirs >/tmp/hf-eval.jsonl
    # Same computation, so the same losses: print the largest per-model difference.
    "$python" - <<'PY'
import json
ours = [json.loads(l) for l in open("/tmp/ours-eval.jsonl")]
hf = [json.loads(l) for l in open("/tmp/hf-eval.jsonl") if '"model"' in l]
print("max |mean loss ours - transformers| over %d models: %.2e" % (
    len(ours), max(abs(a["mean_loss"] - b["mean_loss"]) for a, b in zip(ours, hf))))
PY
  done
done

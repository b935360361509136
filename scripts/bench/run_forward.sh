#!/usr/bin/env bash
# Forward throughput of ours and of transformers on the three bench shapes, batch 1 and 8,
# threads 1 and 2, one JSON line per measurement (BENCHMARKS.md). Each run first waits (up to
# $WAIT_S seconds) for the 1-minute load average to fall below $MAX_LOAD; every line records the
# load before and after and the CPU other processes used during each pass.
#
# Usage: scripts/bench/run_forward.sh MODELS_DIR OUT.jsonl
#   MODELS_DIR holds bench-s, bench-m, bench-l (written by `bench make-model`).
# Env: BENCH (our bench binary, default target/release/examples/bench), BENCH_V4 (optional: a second
#      build to compare, e.g. one without the gemm x86-v4 line in crates/engine/Cargo.toml),
#      PYTHON (a python with torch + transformers),
#      SHAPES ("s m l"), THREADS ("1 2"), MAX_LOAD (0.5), WAIT_S (300).
set -euo pipefail
models=${1:?models dir}
out=${2:?output file}
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-target/release/examples/bench}
python=${PYTHON:-python3}
max_load=${MAX_LOAD:-0.5}
wait_s=${WAIT_S:-300}

wait_for_quiet() {
  local waited=0
  while awk -v m="$max_load" '{exit !($1 >= m)}' /proc/loadavg && [ "$waited" -lt "$wait_s" ]; do
    sleep 10
    waited=$((waited + 10))
  done
}

for shape in ${SHAPES:-s m l}; do
  for threads in ${THREADS:-1 2}; do
    dir="$models/bench-$shape"
    wait_for_quiet
    "$python" "$here/transformers_forward.py" --threads "$threads" \
      --samples "${SAMPLES:-../shared/fixtures/pairs.jsonl}" "$dir" | sed "s/^{/{\"shape\": \"$shape\", /" >>"$out"
    for batch in 1 8; do
      for mode in logits score; do
        wait_for_quiet
        "$bench" forward --model "$dir" --threads "$threads" --batch-size "$batch" --mode "$mode" |
          sed "s/^{/{\"shape\":\"$shape\",\"impl\":\"ours\",/" >>"$out"
        if [ -n "${BENCH_V4:-}" ]; then
          wait_for_quiet
          "$BENCH_V4" forward --model "$dir" --threads "$threads" --batch-size "$batch" --mode "$mode" |
            sed "s/^{/{\"shape\":\"$shape\",\"impl\":\"ours-x86v4\",/" >>"$out"
        fi
      done
    done
  done
done

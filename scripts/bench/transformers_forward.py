#!/usr/bin/env python3
"""transformers' CPU forward throughput, re-measured on the machine at hand with the method of
shared/fixtures/bench.md, so BENCHMARKS.md can compare ours and theirs under the same load:
all pairs of pairs.jsonl with the model's chat template (ChatML + BOS), untruncated, batch 1,
no padding, full logits (`model(ids).logits.float()`), inference mode, SDPA; one warm-up pass,
then --passes timed passes. Also --gemm: torch's fp32 matmul rate on the bench shapes.

Usage: transformers_forward.py --threads 1 --samples pairs.jsonl DIR
       transformers_forward.py --threads 1 --gemm
"""
import argparse
import json
import os
import time

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast


def cpu_seconds():
    """(machine busy CPU seconds, this process's CPU seconds)."""
    with open("/proc/stat") as f:
        v = [float(x) for x in f.readline().split()[1:9]]
    busy = sum(v) - v[3] - v[4]
    t = os.times()
    return busy / 100.0, t.user + t.system


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def forward(args):
    tok = PreTrainedTokenizerFast.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="sdpa").eval()
    params = sum(p.numel() for p in model.parameters())
    pairs = [json.loads(line) for line in open(args.samples) if line.strip()]
    seqs = []
    for p in pairs:
        msgs = [{"role": "user", "content": p["prompt"]}, {"role": "assistant", "content": p["response"]}]
        ids = tok.apply_chat_template(msgs, tokenize=True)
        seqs.append(ids["input_ids"] if hasattr(ids, "keys") else ids)
    tokens = sum(len(s) for s in seqs)

    def run():
        with torch.inference_mode():
            for ids in seqs:
                model(torch.tensor([ids])).logits.float()

    before = loadavg()
    run()
    times, others = [], []
    for _ in range(args.passes):
        b0, m0 = cpu_seconds()
        t0 = time.perf_counter()
        run()
        dt = time.perf_counter() - t0
        b1, m1 = cpu_seconds()
        times.append(dt)
        others.append(max(0.0, (b1 - b0) - (m1 - m0)) / dt)
    s = sorted(times)
    best, median = s[0], s[len(s) // 2]
    print(json.dumps({"model": args.model, "impl": "transformers", "params": params, "threads": torch.get_num_threads(),
                      "tokens": tokens, "pass_seconds": [round(t, 3) for t in times],
                      "tokens_per_s_best": round(tokens / best), "tokens_per_s_median": round(tokens / median),
                      "gflops_best": round(2 * params * tokens / best / 1e9, 1),
                      "other_cores": [round(o, 3) for o in others], "loadavg_before": before,
                      "loadavg_after": loadavg()}))


SHAPES = [(512, 256, 512), (512, 256, 768), (512, 768, 256), (512, 512, 1024), (512, 512, 3072), (512, 1536, 512),
          (512, 768, 4608), (512, 2304, 768), (2048, 2048, 2048)]


def gemm(args):
    print(json.dumps({"threads": torch.get_num_threads(), "loadavg": loadavg(), "torch": torch.__version__,
                      "mkl": torch.backends.mkl.is_available()}))
    for m, k, n in SHAPES:
        a, w = torch.randn(m, k), torch.randn(n, k)
        torch.nn.functional.linear(a, w)
        best = float("inf")
        for _ in range(args.reps):
            t0 = time.perf_counter()
            torch.nn.functional.linear(a, w)
            best = min(best, time.perf_counter() - t0)
        print(json.dumps({"m": m, "k": k, "n": n, "torch_linear_gflops": round(2 * m * k * n / best / 1e9, 1)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--gemm", action="store_true")
    ap.add_argument("model", nargs="?")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.gemm:
        gemm(args)
    else:
        forward(args)


if __name__ == "__main__":
    main()

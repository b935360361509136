#!/usr/bin/env python3
"""Whole evaluation with transformers, the baseline of BENCHMARKS.md: reference losses of several
model folders on pairs.jsonl in ONE Python process, as the upstream validator computes them
(chat template of [user] with the generation prompt -> prompt_len; template of [user, assistant]
-> ids; right truncation to --max-length; mean NLL of positions >= prompt_len), batch 1, float32.

Time it from process start: `/usr/bin/time -f '%e s' python3 transformers_eval.py ...`.
Prints one JSON line per model (mean loss, load / tokenise / score seconds), then the versions.

Usage: transformers_eval.py --threads 1 --samples pairs.jsonl [--max-length 2048] DIR [DIR ...]
"""
import argparse
import json
import math
import time

T0 = time.perf_counter()

import torch  # noqa: E402  (import time is part of what is measured)
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast  # noqa: E402
import transformers  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pairs = [json.loads(line) for line in open(args.samples) if line.strip()]
    imported = time.perf_counter() - T0
    for path in args.models:
        t0 = time.perf_counter()
        tok = PreTrainedTokenizerFast.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        model.eval()
        t1 = time.perf_counter()
        batches = []
        for p in pairs:
            user = [{"role": "user", "content": p["prompt"]}]
            full = user + [{"role": "assistant", "content": p["response"]}]
            kw = dict(tokenize=True, truncation=True, max_length=args.max_length)
            prompt_ids = tok.apply_chat_template(user, add_generation_prompt=True, **kw)
            ids = tok.apply_chat_template(full, **kw)
            # transformers 5 returns a BatchEncoding here; 4.x a list.
            prompt_ids = prompt_ids["input_ids"] if hasattr(prompt_ids, "keys") else prompt_ids
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            batches.append((ids, len(prompt_ids)))
        t2 = time.perf_counter()
        losses = []
        with torch.inference_mode():
            for ids, prompt_len in batches:
                if prompt_len >= len(ids):
                    losses.append(float("nan"))
                    continue
                x = torch.tensor([ids])
                labels = x.clone()
                labels[:, :prompt_len] = -100
                losses.append(model(x, labels=labels).loss.item())
        t3 = time.perf_counter()
        finite = [x for x in losses if not math.isnan(x)]
        print(json.dumps({"model": path, "mean_loss": sum(finite) / len(finite), "load_s": t1 - t0,
                          "tokenise_s": t2 - t1, "score_s": t3 - t2}), flush=True)
    print(json.dumps({"import_s": imported, "total_in_process_s": time.perf_counter() - T0,
                      "torch": torch.__version__, "transformers": transformers.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

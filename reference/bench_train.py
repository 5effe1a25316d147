"""Training benchmark: whet vs PyTorch + PEFT, LoRA SFT on one random-weight model.

Usage (from the repository root, after `cargo build --release` and bench_generate.py, which
builds the model):

    /opt/refvenv/bin/python reference/bench_train.py [--model-dir /tmp/whet-bench/smollm2-135m]
        [--steps 3] [--seq 512] [--micro-batch 4] [--rank 16] [--full] [--whet-only] [--whet PATH]
        [--set key=value ...]

Both engines train LoRA (rank 16, alpha 32, all linear layers, f32) on the same random token ids
(`--micro-batch` rows of `--seq` tokens per step, every token a target), AdamW lr 1e-4, 2
threads, each in its own process; the first step is a warm-up and not timed. Reports median
step time, tokens/s and peak RSS, and the ratios. `--whet` names the binary (default
`target/release/whet`); each `--set` is passed on to `whet train` (e.g. `--set
train.fused_loss=false` for the full-logits loss, `--set train.gradient_checkpointing=true`).
`--full` trains every weight instead of LoRA, in both engines (AdamW over all parameters, each
engine's default weight decay). `--whet-only` skips the PyTorch run, to compare whet settings with each other.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

THREADS = 2


def token_rows(n_rows, seq, vocab, seed=1234):
    state, rows = seed, []
    for _ in range(n_rows):
        row = []
        for _ in range(seq):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            row.append((state >> 33) % min(vocab, 512))  # ids the golden tokenizer can decode
        rows.append(row)
    return rows


def torch_worker(args):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="sdpa")
    if not args.full:
        model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.tensor(token_rows(args.micro_batch, args.seq, model.config.vocab_size))
    times = []
    for step in range(args.steps + 1):
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step > 0:
            times.append(time.perf_counter() - start)
    print(json.dumps({"engine": "pytorch" if args.full else "pytorch+peft", "step_times": times,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def whet_run(args, env):
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.jsonl")
        # Text records that tokenise to exactly --seq tokens are awkward to make; instead give
        # whet pre-tokenised lengths via max_seq_len truncation of long random texts.
        words = "the cat robot garden book river train friend house window tree city green".split()
        with open(data, "w") as f:
            for i in range(args.micro_batch * (args.steps + 1)):
                f.write(json.dumps({"text": " ".join(words[(i * 7 + j) % len(words)] for j in range(args.seq * 2))}) + "\n")
        cfg = os.path.join(tmp, "run.toml")
        lora = "" if args.full else f'[lora]\nr = {args.rank}\nalpha = {2 * args.rank}\n'
        with open(cfg, "w") as f:
            f.write(f'method = "cpt"\nmodel = "{args.model_dir}"\noutput_dir = "{tmp}/run"\n'
                    f'[data]\ntrain = "{data}"\nmax_seq_len = {args.seq}\n'
                    f'{lora}'
                    f'[train]\nmax_steps = {args.steps + 1}\nmicro_batch_size = {args.micro_batch}\nlr = 1e-4\nschedule = "constant"\n')
        overrides = [a for kv in args.set for a in ("--set", kv)]
        subprocess.run([args.whet, "train", cfg, "--quiet", *overrides], check=True, env=env, capture_output=True)
        rows = [json.loads(l) for l in open(os.path.join(tmp, "run", "metrics.jsonl")) if '"loss"' in l]
        times = [r["step_time_s"] for r in rows[1:]]
        return {"engine": "whet", "step_times": times, "peak_rss_mib": max(r["peak_rss_mib"] for r in rows),
                "tokens_per_step": rows[-1]["tokens"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", default="/tmp/whet-bench/smollm2-135m")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--full", action="store_true", help="train every weight instead of LoRA")
    p.add_argument("--whet-only", action="store_true", help="skip the PyTorch run")
    p.add_argument("--whet", default="target/release/whet")
    p.add_argument("--set", action="append", default=[], help="key=value passed to whet train --set")
    p.add_argument("--worker", action="store_true")
    args = p.parse_args()
    if args.worker:
        return torch_worker(args)
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
    w = whet_run(args, env)
    tokens = args.micro_batch * args.seq
    print("| engine | median step s | tokens/s | peak RSS MiB |")
    print("|---|---|---|---|")
    if args.whet_only:
        med = statistics.median(w["step_times"])
        print(f"| whet | {med:.2f} | {tokens / med:.1f} | {w['peak_rss_mib']:.0f} |")
        print(json.dumps({"whet": w}))
        return
    out = subprocess.run([sys.executable, __file__, "--worker", "--model-dir", args.model_dir, "--steps", str(args.steps),
                          "--seq", str(args.seq), "--micro-batch", str(args.micro_batch), "--rank", str(args.rank),
                          *(["--full"] if args.full else [])],
                         check=True, capture_output=True, text=True, env=env)
    t = json.loads(out.stdout.strip().splitlines()[-1])
    res = {}
    for r in (w, t):
        med = statistics.median(r["step_times"])
        res[r["engine"]] = (med, tokens / med, r["peak_rss_mib"])
        print(f"| {r['engine']} | {med:.2f} | {tokens / med:.1f} | {r['peak_rss_mib']:.0f} |")
    a, b = res["whet"], res[t["engine"]]
    print(f"| whet / {t['engine']} | {a[0] / b[0]:.2f}x time | {a[1] / b[1]:.2f}x | {a[2] / b[2]:.2f}x |")
    print(json.dumps({"whet": w, "torch": t}))


if __name__ == "__main__":
    main()

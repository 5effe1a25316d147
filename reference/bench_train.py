"""Training benchmark harness: whet against PyTorch (+ PEFT for LoRA) on the same model, data
shape and optimiser, alternating, in one invocation.

Usage (from the repository root, after `cargo build --release`):

    /opt/refvenv/bin/python reference/bench_train.py --config 35m|135m [--full] [--rounds 2]
        [--steps 3] [--whet PATH] [--set key=value ...] [--whet-only]

Configs (random weights, f32, 2 threads, every token a target):
- `35m`: the Llama-style model of DESIGN.md's measured traps, built here on first use in
  /tmp/whet-bench/llama-35m (hidden 512, 8 layers, 8 heads, intermediate 1376, vocabulary
  16384, tied embeddings: 33.7M parameters), 8 rows of 256 tokens per step;
- `135m`: SmolLM2-135M's shape (built by `reference/bench_generate.py`'s `build_model` in
  /tmp/whet-bench/smollm2-135m), 4 rows of 512 tokens per step.
`--model-dir`, `--seq` and `--micro-batch` override a config's values.

LoRA (rank 16, alpha 32, all linear layers) unless `--full` (every weight trained); AdamW lr 1e-4.
Each round runs whet, then PyTorch, each in its own process; each run's first step is a warm-up
and not timed. Reports per engine the median step time over every timed step of every round,
its spread (min-max), tokens/s, peak RSS (the largest over rounds), and whet's ratios to
PyTorch. `--whet` names the binary (default `target/release/whet`); each `--set` is passed on
to `whet train` (e.g. `--set train.fused_loss=false`, `--set train.gradient_checkpointing=true`).
"""

import argparse
import json
import os
import resource
import shutil
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


CONFIGS = {
    "35m": {"model_dir": "/tmp/whet-bench/llama-35m", "seq": 256, "micro_batch": 8},
    "135m": {"model_dir": "/tmp/whet-bench/smollm2-135m", "seq": 512, "micro_batch": 4},
}


def build_model(config, path):
    """The config's random-weight model with a small tokenizer (the golden llama's, 512 ids)."""
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return
    if config == "135m":
        sys.path.insert(0, os.path.dirname(__file__))
        from bench_generate import build_model as build_135m

        build_135m(path)
    else:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        LlamaForCausalLM(LlamaConfig(
            vocab_size=16384, hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
            num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=4096,
            rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=0, eos_token_id=0,
        )).save_pretrained(path, safe_serialization=True)
    golden = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "models", "llama")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if not os.path.exists(os.path.join(path, name)):
            shutil.copy(os.path.join(golden, name), os.path.join(path, name))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", choices=sorted(CONFIGS), default="135m")
    p.add_argument("--model-dir")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--seq", type=int)
    p.add_argument("--micro-batch", type=int)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--full", action="store_true", help="train every weight instead of LoRA")
    p.add_argument("--whet-only", action="store_true", help="skip the PyTorch run")
    p.add_argument("--whet", default="target/release/whet")
    p.add_argument("--set", action="append", default=[], help="key=value passed to whet train --set")
    p.add_argument("--worker", action="store_true")
    args = p.parse_args()
    for key, value in CONFIGS[args.config].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.worker:
        return torch_worker(args)
    build_model(args.config, args.model_dir)
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
    runs = {}
    for _ in range(args.rounds):
        w = whet_run(args, env)
        runs.setdefault("whet", []).append(w)
        if args.whet_only:
            continue
        out = subprocess.run([sys.executable, __file__, "--worker", "--config", args.config, "--model-dir", args.model_dir,
                              "--steps", str(args.steps), "--seq", str(args.seq), "--micro-batch", str(args.micro_batch),
                              "--rank", str(args.rank), *(["--full"] if args.full else [])],
                             check=True, capture_output=True, text=True, env=env)
        t = json.loads(out.stdout.strip().splitlines()[-1])
        runs.setdefault(t["engine"], []).append(t)
    tokens = args.micro_batch * args.seq
    method = "full fine-tuning" if args.full else f"LoRA r{args.rank}"
    print(f"{args.config}, {method}, {args.micro_batch} x {args.seq} tokens/step, {args.rounds} round(s) of {args.steps} timed steps")
    print("| engine | median step s (min-max) | tokens/s | peak RSS MiB |")
    print("|---|---|---|---|")
    res = {}
    for engine, rs in runs.items():
        times = [t for r in rs for t in r["step_times"]]
        med, rss = statistics.median(times), max(r["peak_rss_mib"] for r in rs)
        res[engine] = (med, tokens / med, rss)
        print(f"| {engine} | {med:.2f} ({min(times):.2f}-{max(times):.2f}) | {tokens / med:.1f} | {rss:.0f} |")
    if len(res) == 2:
        a, b = res["whet"], next(v for k, v in res.items() if k != "whet")
        print(f"| whet / PyTorch | {a[0] / b[0]:.2f}x time | {a[1] / b[1]:.2f}x | {a[2] / b[2]:.2f}x |")
    print(json.dumps(runs))


if __name__ == "__main__":
    main()

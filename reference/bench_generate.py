"""Generation benchmark: whet vs transformers on one random-weight model of SmolLM2-135M's shape.

Usage (from the repository root, after `cargo build --release`):

    /opt/refvenv/bin/python reference/bench_generate.py [--model-dir /tmp/whet-bench/smollm2-135m]
        [--rounds 2] [--repeats 3] [--prompt-tokens 512] [--decode-tokens 64]

Builds the model once (llama, hidden 576, 30 layers, 9 heads, 3 kv heads, intermediate 1536,
vocab 49152, tied embeddings; random init, seed 0, saved in f32), then for each dtype (f32, bf16)
alternates `whet bench generate` and a transformers worker (this script with --worker), each in
its own process so peak RSS is its own, `--rounds` times. Both time a prefill of the same
`--prompt-tokens` ids and `--decode-tokens` greedy decode steps with a KV cache, after one
warm-up, on 2 threads. Prints a Markdown table of medians and whet/transformers ratios.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

THREADS = 2


def build_model(path):
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
        rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True,
        bos_token_id=0, eos_token_id=0,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)


def prompt_ids(n, vocab):
    # The same LCG as `whet bench generate`.
    state, ids = 12345, []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        ids.append((state >> 33) % vocab)
    return ids


def worker(args):
    import resource

    import torch
    from transformers import LlamaForCausalLM

    torch.set_num_threads(THREADS)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    model = LlamaForCausalLM.from_pretrained(args.model_dir, dtype=dtype, attn_implementation="sdpa")
    model.eval()
    ids = torch.tensor([prompt_ids(args.prompt_tokens, model.config.vocab_size)])
    prefill, decode = [], []
    with torch.inference_mode():
        for rnd in range(args.repeats + 1):
            start = time.perf_counter()
            out = model(ids, use_cache=True)
            prefill_s = time.perf_counter() - start
            past, logits = out.past_key_values, out.logits[:, -1]
            start = time.perf_counter()
            for _ in range(args.decode_tokens):
                nxt = logits.argmax(-1, keepdim=True)
                out = model(nxt, past_key_values=past, use_cache=True)
                past, logits = out.past_key_values, out.logits[:, -1]
            decode_s = time.perf_counter() - start
            if rnd > 0:
                prefill.append(args.prompt_tokens / prefill_s)
                decode.append(args.decode_tokens / decode_s)
    print(json.dumps({
        "engine": "transformers",
        "dtype": args.dtype,
        "prefill_tokens_per_s": statistics.median(prefill),
        "prefill_runs": prefill,
        "decode_tokens_per_s": statistics.median(decode),
        "decode_runs": decode,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__,
    }))


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", default="/tmp/whet-bench/smollm2-135m")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--decode-tokens", type=int, default=64)
    p.add_argument("--dtypes", default="f32,bf16")
    p.add_argument("--whet", default="target/release/whet")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--dtype", default="f32")
    args = p.parse_args()
    if args.worker:
        return worker(args)

    build_model(args.model_dir)
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
    common = ["--prompt-tokens", str(args.prompt_tokens), "--decode-tokens", str(args.decode_tokens),
              "--repeats", str(args.repeats)]
    results = {}
    for dtype in args.dtypes.split(","):
        runs = {"whet": [], "transformers": []}
        for _ in range(args.rounds):
            runs["whet"].append(run_json(
                [args.whet, "bench", "generate", "--model", args.model_dir, "--dtype", dtype, "--json", *common], env))
            runs["transformers"].append(run_json(
                [sys.executable, __file__, "--worker", "--model-dir", args.model_dir, "--dtype", dtype, *common], env))
        results[dtype] = runs

    print("| dtype | engine | prefill tok/s (512) | decode tok/s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    summary = {}
    for dtype, runs in results.items():
        med = {}
        for engine, rs in runs.items():
            pre = statistics.median(x for r in rs for x in r["prefill_runs"])
            dec = statistics.median(x for r in rs for x in r["decode_runs"])
            rss = max(r["peak_rss_mib"] for r in rs)
            med[engine] = (pre, dec, rss)
            print(f"| {dtype} | {engine} | {pre:.1f} | {dec:.2f} | {rss:.0f} |")
        w, t = med["whet"], med["transformers"]
        print(f"| {dtype} | whet / transformers | {w[0] / t[0]:.2f}x | {w[1] / t[1]:.2f}x | {w[2] / t[2]:.2f}x |")
        last = runs["whet"][-1]
        summary[dtype] = {"bandwidth_gb_s": last["read_bandwidth_gb_s"], "weight_mib": last["weight_mib"],
                          "decode_bound": last["decode_bound_tokens_per_s"],
                          "decode_fraction_of_bound": w[1] / last["decode_bound_tokens_per_s"]}
    print(json.dumps(summary, indent=1))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

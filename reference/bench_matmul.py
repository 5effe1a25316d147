"""Matrix multiplication: candle's gemm (what whet trains with) against the BLAS libraries Debian
ships (OpenBLAS, BLIS, oneDNN), on the products one training step computes, and against the
machine's measured FMA peak.

Usage (from the repository root; needs gcc and `apt-get install libopenblas0-pthread
libblis4-pthread libdnnl2`, a missing library is reported and skipped):

    python3 reference/bench_matmul.py [--threads 2] [--rounds 3] [--repeats 5]

Builds `reference/bench_matmul.c` (dlopen of each library, cblas_sgemm / dnnl_sgemm, and an
FMA-peak loop) and whet-models' `bench_matmul` example (candle's `Tensor::matmul`), then runs
the two alternately `--rounds` times on the same shapes and prints, per shape, each library's
median GFLOP/s over the rounds, its share of the FMA peak, and its ratio to candle's gemm.
Shapes (2048 rows = 8 x 256 or 4 x 512 tokens): the forward products `x W^T` (NT), the input
gradients `dY W` (NN) and the weight gradients `dY^T X` (TN) of the 35M model (hidden 512,
intermediate 1376) and of SmolLM2-135M's shape (hidden 576, intermediate 1536), a LoRA rank-16
product, and one 4096-column chunk of the 135M LM head.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile

SHAPES = {
    "35M q/o x W^T": "2048,512,512:NT",
    "35M up x W^T": "2048,1376,512:NT",
    "35M down x W^T": "2048,512,1376:NT",
    "35M down dY W": "2048,1376,512:NN",
    "35M up dW": "1376,512,2048:TN",
    "135M q/o x W^T": "2048,576,576:NT",
    "135M up x W^T": "2048,1536,576:NT",
    "135M up dY W": "2048,576,1536:NN",
    "135M up dW": "1536,576,2048:TN",
    "135M LM head chunk": "2048,4096,576:NT",
    "LoRA x A^T (r 16)": "2048,16,576:NT",
}


def run(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    exe = os.path.join(tempfile.mkdtemp(), "bench_matmul")
    subprocess.run(["gcc", "-O2", "-march=native", "-o", exe, "reference/bench_matmul.c", "-ldl", "-lpthread"], check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "whet-models", "--example", "bench_matmul"], check=True)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    candle = os.path.join(target, "release", "examples", "bench_matmul")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads))
    shapes = list(SHAPES.values())
    gflops, peaks = {}, []
    for _ in range(args.rounds):
        rows = run([candle, str(args.repeats)] + shapes, env)
        rows += run([exe, str(args.threads), str(args.repeats)] + shapes, env)
        for r in rows:
            if "fma_peak_gflops" in r:
                peaks.append(r["fma_peak_gflops"])
            elif "gflops" in r:
                gflops.setdefault((r["library"], r["shape"]), []).append(r["gflops"])
            else:
                print("skipped:", r)
    peak = statistics.median(peaks)
    libs = ["candle-gemm", "openblas", "blis", "onednn"]
    print(f"FMA peak ({args.threads} threads): {peak:.1f} GFLOP/s (median of {len(peaks)} rounds, best of 5 each)")
    print("| product | shape M,N,K | " + " | ".join(f"{l} GFLOP/s (% peak)" for l in libs) + " | best / candle |")
    print("|---|---|" + "---|" * (len(libs) + 1))
    for name, shape in SHAPES.items():
        med = {l: statistics.median(gflops[(l, shape)]) for l in libs if (l, shape) in gflops}
        cells = [f"{med[l]:.1f} ({100 * med[l] / peak:.0f}%)" if l in med else "-" for l in libs]
        best = max(med, key=med.get)
        print(f"| {name} | {shape} | " + " | ".join(cells) + f" | {best} {med[best] / med['candle-gemm']:.2f}x |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the QLoRA quantisation goldens (NF4 with double quantisation, LLM.int8 storage).

Run from anywhere (CPU only, no network, a few seconds):

    /opt/refvenv/bin/python reference/make_quant_goldens.py

(any venv with torch and bitsandbytes==0.50.2, which quantises on the CPU.) It writes
tests/golden/quant/quant.safetensors and tests/golden/quant/manifest.json, deterministically.

For each case (small random f32 matrices with odd sizes; one with an all-zero 64-block and
outliers), under the case's name:

* `{c}.input`                  the matrix, f32.
* `{c}.nf4.packed`             bitsandbytes.functional.quantize_4bit(A, blocksize=64,
                               quant_type="nf4", compress_statistics=False): packed codes, u8,
                               two per byte (first element in the high nibble).
* `{c}.nf4.absmax`             its per-block absmax, f32.
* `{c}.nf4.dequant`            dequantize_4bit of that, f32.
* `{c}.nf4dq.packed`           the same with compress_statistics=True (codes are identical).
* `{c}.nf4dq.qabsmax`          the double-quantised absmax, u8 (8-bit dynamic code, blocks of 256).
* `{c}.nf4dq.absmax2`          the absmax of those 256-blocks, f32.
* `{c}.nf4dq.offset`           the mean subtracted before quantising the absmax, f32 [1].
* `{c}.nf4dq.dequant`          dequantize_4bit with that state, f32.
* `{c}.nf4dq.qabsmax_default`  the absmax double-quantised by bitsandbytes' *default* (torch)
                               blockwise kernel: nearest code by the midpoints between codes (the
                               semantics of its CUDA kernel). bitsandbytes' CPU C kernel
                               (`quantize_cpu`) finds the nearest code with an approximate binary
                               search (BinSearch Direct2) that picks the farther neighbour for
                               values near a midpoint (~0.15% of values in our measurement); whet
                               implements the exact nearest code, so its codes equal these, and
                               its dequantised absmax equals the CPU one within one code step.
* `{c}.int8.cb`, `{c}.int8.scb`  bitsandbytes.functional.int8_vectorwise_quant(A): LLM.int8's
                               row-wise storage (Int8Params' CB, i8, and SCB, the row absmax, f32).
* `{c}.int8.dequant`           int8_vectorwise_dequant(CB, SCB), f32.

And `nf4_code` (the 16 NF4 values) and `dynamic_code` (the 256-entry signed dynamic map that
double quantisation uses), f32.
"""

from __future__ import annotations

import json
from pathlib import Path

import bitsandbytes
import bitsandbytes.functional as F
import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "quant"
SEED = 2024
BLOCK = 64
DQ_BLOCK = 256


def default_quantize_blockwise(a: torch.Tensor, code: torch.Tensor, blocksize: int):
    """bitsandbytes 0.50.2's default (torch) `quantize_blockwise` kernel, verbatim in substance
    (backends/default/ops.py): absmax per block, scale by the reciprocal (by division in a
    trailing partial block), nearest code by bucketize over the midpoints."""
    a_flat = a.reshape(-1).float()
    n = a_flat.numel()
    rem = n % blocksize
    full = n - rem
    blocks = full // blocksize
    a_com = a_flat[:full].reshape(blocks, blocksize)
    absmax = a_com.abs().max(dim=-1)[0]
    scaled = torch.clamp(a_com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = a_flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(a_flat[full:] / am, -1, 1)])
    bounds = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8)
    return q.reshape(a.shape), absmax


def cases() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(SEED)
    out = {
        "small_3x70": torch.randn(3, 70, generator=g),
        "odd_17x33": torch.randn(17, 33, generator=g) * 0.05,
        # 4608 = 72 * 64 values: whole blocks only.
        "rows_24x192": torch.randn(24, 192, generator=g) * 0.02,
        # 17 x 1001 = 17017 values: 266 absmax blocks (the last partial), so double quantisation
        # has two 256-blocks, the last partial too.
        "wide_17x1001": torch.randn(17, 1001, generator=g) * 0.03,
    }
    special = torch.randn(9, 71, generator=g) * 0.1
    special.view(-1)[64:128] = 0.0  # an all-zero block
    special[2, 5] = 3.0  # outliers
    special[7, 70] = -2.5
    out["special_9x71"] = special
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    dynamic = F.create_dynamic_map().float()
    tensors["dynamic_code"] = dynamic.clone()
    tensors["nf4_code"] = F.get_4bit_type("nf4", device="cpu").float().clone()
    manifest_cases = {}
    for name, a in cases().items():
        a = a.float().contiguous()
        tensors[f"{name}.input"] = a.clone()
        packed, st = F.quantize_4bit(a, blocksize=BLOCK, quant_type="nf4", compress_statistics=False)
        tensors[f"{name}.nf4.packed"] = packed.reshape(-1).clone()
        tensors[f"{name}.nf4.absmax"] = st.absmax.float().clone()
        tensors[f"{name}.nf4.dequant"] = F.dequantize_4bit(packed, st).float().clone()

        packed2, st2 = F.quantize_4bit(a, blocksize=BLOCK, quant_type="nf4", compress_statistics=True)
        assert torch.equal(packed, packed2)
        tensors[f"{name}.nf4dq.packed"] = packed2.reshape(-1).clone()
        tensors[f"{name}.nf4dq.qabsmax"] = st2.absmax.reshape(-1).clone()
        tensors[f"{name}.nf4dq.absmax2"] = st2.state2.absmax.float().clone()
        tensors[f"{name}.nf4dq.offset"] = st2.offset.reshape(1).float().clone()
        tensors[f"{name}.nf4dq.dequant"] = F.dequantize_4bit(packed2, st2).float().clone()
        q_def, absmax2_def = default_quantize_blockwise(st.absmax.float() - st2.offset, dynamic, DQ_BLOCK)
        assert torch.equal(absmax2_def, st2.state2.absmax.float())
        tensors[f"{name}.nf4dq.qabsmax_default"] = q_def.reshape(-1).clone()

        cb, scb, _ = F.int8_vectorwise_quant(a.clone())
        tensors[f"{name}.int8.cb"] = cb.clone()
        tensors[f"{name}.int8.scb"] = scb.float().clone()
        tensors[f"{name}.int8.dequant"] = F.int8_vectorwise_dequant(cb, scb).float().clone()
        manifest_cases[name] = {
            "shape": list(a.shape),
            "dq_codes_differing_cpu_vs_default_kernel": int((q_def.reshape(-1) != st2.absmax.reshape(-1)).sum()),
        }
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, str(OUT / "quant.safetensors"))
    manifest = {
        "generator": "reference/make_quant_goldens.py",
        "command": "/opt/refvenv/bin/python reference/make_quant_goldens.py",
        "versions": {
            "torch": torch.__version__,
            "bitsandbytes": bitsandbytes.__version__,
            "numpy": np.__version__,
            "safetensors": safetensors.__version__,
        },
        "device": "cpu",
        "seed": SEED,
        "nf4": {"blocksize": BLOCK, "compress_statistics": True, "double_quant_blocksize": DQ_BLOCK},
        "int8": "int8_vectorwise_quant (LLM.int8 row-wise absmax, Int8Params CB/SCB), threshold 0",
        "cases": manifest_cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()

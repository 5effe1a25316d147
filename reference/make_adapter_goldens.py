#!/usr/bin/env python3
"""Generate the LoRA-adapter (PEFT) and training-parity goldens the Rust tests compare against.

Run from anywhere (CPU only, no network, ~15 s), after make_model_goldens.py has
written tests/golden/models/:

    /opt/refvenv/bin/python reference/make_adapter_goldens.py

(any venv with the versions pinned in reference/requirements.txt, peft included.)
The script re-executes itself with PYTHONHASHSEED=0: PEFT turns
target_modules="all-linear" into a Python set and writes it to adapter_config.json
as list(set), whose order depends on string hashing.

It writes, deterministically (re-running gives byte-identical files):

* tests/golden/adapters/<name>/   adapter_config.json + adapter_model.safetensors
  exactly as PeftModel.save_pretrained writes them (the README.md model card PEFT
  also writes is deleted), plus golden.json (NLL sums with the adapter active and
  merged, merged-vs-unmerged logit difference, the state-dict keys) and
  golden.safetensors (input_ids, logits_0 = merged logits, logits_unmerged_0).
  Adapters: llama_lora_r4, llama_rslora_qv, qwen2_lora_r4. Their A and B are
  overwritten with N(0, 0.05) after PEFT's init so the adapter changes outputs.
* tests/golden/train/   5-step AdamW parity runs on the llama golden base:
  lora_init/ and lora_final/ (PEFT adapters before and after the LoRA run),
  full_golden.safetensors (full fine-tuning: per-step loss / grad norm and the
  final values of two norm weights) and golden.json (texts, micro-batches,
  hyperparameters, per-step metrics of both runs, the exact update rules).
* tests/golden/MANIFEST.json   adds the "adapter_goldens" section and the new
  files' entries; the entries written by make_model_goldens.py are kept.

Nothing is downloaded. CI never runs this script: its outputs are committed.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])

import hashlib
import json
import math
import platform
import shutil
import warnings
from pathlib import Path

import accelerate
import peft
import safetensors
import safetensors.torch
import tokenizers
import torch
import torch.nn.functional as F
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = Path(__file__).resolve().parent.parent
os.chdir(REPO)  # relative paths only: they end up in adapter_config.json (base_model_name_or_path)
sys.path.insert(0, str(REPO / "reference"))
from make_model_goldens import chat_scored_mask, score  # noqa: E402  (same NLL definitions)

OUT = Path("tests/golden")
MODELS_DIR = OUT / "models"
ADAPTERS_DIR = OUT / "adapters"
TRAIN_DIR = OUT / "train"
SCRIPT = "reference/make_adapter_goldens.py"
COMMAND = "/opt/refvenv/bin/python reference/make_adapter_goldens.py"

ADAPTER_STD = 0.05
PAD_ID = 511
IGNORE_INDEX = -100

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
warnings.filterwarnings("ignore", category=FutureWarning)
transformers.logging.set_verbosity_error()


def load_base(name: str):
    return AutoModelForCausalLM.from_pretrained(
        str(MODELS_DIR / name), dtype=torch.float32, attn_implementation="eager"
    ).eval()


def f64_sum(values) -> float:
    return float(sum(float(v) for v in values))


# --------------------------------------------------------------------------------------
# 1. Adapters
# --------------------------------------------------------------------------------------

ADAPTER_SPECS = [
    dict(
        name="llama_lora_r4",
        base="llama",
        seed=2001,
        config=dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"),
        notes="all-linear on a tied-embedding base: lm_head is not targeted; scaling = alpha/r = 2",
    ),
    dict(
        name="llama_rslora_qv",
        base="llama",
        seed=2002,
        config=dict(r=8, lora_alpha=16, lora_dropout=0.0, use_rslora=True, target_modules=["q_proj", "v_proj"],
                    task_type="CAUSAL_LM"),
        notes="rsLoRA: scaling = alpha/sqrt(r) = 16/sqrt(8) = 5.656854...; only q_proj and v_proj",
    ),
    dict(
        name="qwen2_lora_r4",
        base="qwen2",
        seed=2003,
        config=dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"),
        notes="sharded base with q/k/v biases (LoRA does not touch biases); tied embeddings, lm_head not targeted",
    ),
]


@torch.no_grad()
def randomise_lora(pm, seed: int) -> None:
    """Overwrite every lora_A / lora_B weight with N(0, ADAPTER_STD), in sorted-name order."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(pm.named_parameters(), key=lambda kv: kv[0]):
        if ".lora_A." in name or ".lora_B." in name:
            p.copy_(ADAPTER_STD * torch.randn(p.shape, generator=g, dtype=torch.float32))


def save_adapter(pm, d: Path) -> None:
    pm.save_pretrained(str(d))
    readme = d / "README.md"  # PEFT's model card: not part of the adapter format
    if readme.exists():
        readme.unlink()


def adapter_key_info(d: Path) -> dict:
    with safetensors.safe_open(str(d / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
        shapes = {k: list(f.get_slice(k).get_shape()) for k in keys}
        dtypes = sorted({str(f.get_slice(k).get_dtype()) for k in keys})
        meta = f.metadata()
    return {"keys": keys, "shapes": shapes, "dtypes": dtypes, "metadata": meta}


def write_adapter(spec: dict) -> dict:
    name, base = spec["name"], spec["base"]
    d = ADAPTERS_DIR / name
    if d.exists():
        shutil.rmtree(d)
    base_dir = MODELS_DIR / base
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    base_golden = json.loads((base_dir / "golden.json").read_text())
    base_tensors = safetensors.torch.load_file(str(base_dir / "golden.safetensors"))

    torch.manual_seed(spec["seed"])
    model = load_base(base)
    pm = get_peft_model(model, LoraConfig(**spec["config"]))
    randomise_lora(pm, spec["seed"])
    save_adapter(pm, d)
    del pm, model

    # Everything below uses the adapter exactly as it loads from disk.
    base_model = load_base(base)
    active = PeftModel.from_pretrained(base_model, str(d)).eval()
    assert not any(n for n, _ in active.named_modules() if n.endswith("lm_head.lora_A")), "lm_head targeted"
    targeted = sorted(n.removeprefix("base_model.model.") for n, m in active.named_modules()
                      if hasattr(m, "lora_A") and "default" in getattr(m, "lora_A", {}))
    scaling = sorted({float(m.scaling["default"]) for _, m in active.named_modules() if hasattr(m, "scaling")
                      and isinstance(m.scaling, dict) and "default" in m.scaling})
    merged = PeftModel.from_pretrained(load_base(base), str(d)).merge_and_unload().eval()
    plain = load_base(base)
    assert type(merged) is type(plain) and not any("lora" in n for n, _ in merged.named_parameters())

    ids1 = base_tensors["input_ids_1"]
    with torch.no_grad():
        logits_active = active(input_ids=ids1).logits.float().contiguous()
        logits_merged = merged(input_ids=ids1).logits.float().contiguous()
        logits_base = plain(input_ids=ids1).logits.float()
    assert torch.allclose(logits_base, base_tensors["logits_f32_1"], atol=1e-5, rtol=0)
    merged_vs_unmerged = float((logits_merged - logits_active).abs().max())
    adapter_vs_base = float((logits_merged - logits_base).abs().max())
    assert merged_vs_unmerged < 1e-4, merged_vs_unmerged
    assert adapter_vs_base > 0.05, adapter_vs_base

    texts, max_text_diff = [], 0.0
    for t in base_golden["texts"]:
        ids = tok(t["text"])["input_ids"]
        assert ids[0] == tok.bos_token_id
        n, nll = score(active, ids, [True] * len(ids))
        n_m, nll_m = score(merged, ids, [True] * len(ids))
        with torch.no_grad():
            x = torch.tensor([ids])
            diff = float((active(input_ids=x).logits - merged(input_ids=x).logits).abs().max())
        max_text_diff = max(max_text_diff, diff)
        assert n == n_m == t["n_tokens"]
        texts.append({
            "text": t["text"],
            "n_tokens": n,
            "nll_sum": nll,
            "nll_sum_merged": nll_m,
            "max_abs_diff_logits_merged_vs_unmerged": diff,
            "base_nll_sum": t["nll_sum"],
        })
    chats = []
    for c in base_golden["chats"]:
        ids, scored, spans = chat_scored_mask(tok, c["messages"])
        n, nll = score(active, ids, scored)
        n_m, nll_m = score(merged, ids, scored)
        assert n == n_m == c["n_tokens"] and spans == c["assistant_char_spans"]
        chats.append({
            "messages": c["messages"],
            "n_tokens": n,
            "nll_sum": nll,
            "nll_sum_merged": nll_m,
            "assistant_char_spans": spans,
            "base_nll_sum": c["nll_sum"],
        })

    safetensors.torch.save_file(
        {"input_ids": ids1.contiguous(), "logits_0": logits_merged, "logits_unmerged_0": logits_active},
        str(d / "golden.safetensors"),
        metadata={"generator": SCRIPT},
    )
    keys = adapter_key_info(d)
    cfg = json.loads((d / "adapter_config.json").read_text())
    golden = {
        "adapter": name,
        "base_model": base,
        "base_model_dir": (MODELS_DIR / base).as_posix(),
        "lora_config_kwargs": spec["config"],
        "randomisation": f"after get_peft_model, every lora_A/lora_B weight (sorted by parameter name) "
        f"= {ADAPTER_STD} * torch.randn(shape, generator=torch.Generator().manual_seed({spec['seed']}))",
        "scaling": scaling[0] if len(scaling) == 1 else scaling,
        "targeted_modules": targeted,
        "state_dict_keys": keys["keys"],
        "state_dict_shapes": keys["shapes"],
        "texts": texts,
        "chats": chats,
        "max_abs_diff_logits_merged_vs_unmerged": max(merged_vs_unmerged, max_text_diff),
        "max_abs_diff_logits_adapter_vs_base_input_ids_1": adapter_vs_base,
    }
    (d / "golden.json").write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"== adapter {name}: {len(keys['keys'])} keys, e.g. {keys['keys'][:2]}; scaling {golden['scaling']}; "
          f"merged-vs-unmerged {golden['max_abs_diff_logits_merged_vs_unmerged']:.2e}; vs base {adapter_vs_base:.3f}")
    return {
        "base_model": base,
        "notes": spec["notes"],
        "lora_config_kwargs": spec["config"],
        "randomisation_seed": spec["seed"],
        "scaling": golden["scaling"],
        "n_keys": len(keys["keys"]),
        "example_keys": keys["keys"][:4],
        "key_dtypes": keys["dtypes"],
        "safetensors_metadata": keys["metadata"],
        "targeted_modules": targeted,
        "adapter_config.json": cfg,
        "max_abs_diff_logits_merged_vs_unmerged": golden["max_abs_diff_logits_merged_vs_unmerged"],
        "max_abs_diff_logits_adapter_vs_base_input_ids_1": adapter_vs_base,
    }


# --------------------------------------------------------------------------------------
# 2. PEFT's default lora_A init
# --------------------------------------------------------------------------------------


def lora_init_check() -> dict:
    model = load_base("llama")
    torch.manual_seed(0)
    pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    stats = {}
    for name, p in pm.named_parameters():
        if ".lora_B." in name:
            assert torch.count_nonzero(p) == 0, name
        if ".lora_A." not in name:
            continue
        w = p.detach()
        fan_in = w.shape[1]
        bound = 1.0 / math.sqrt(fan_in)
        assert float(w.abs().max()) <= bound, (name, float(w.abs().max()), bound)
        stats[name.removeprefix("base_model.model.").replace(".lora_A.default.weight", "")] = {
            "shape": list(w.shape),
            "fan_in": fan_in,
            "mean": float(w.mean()),
            "std": float(w.std()),
            "min": float(w.min()),
            "max": float(w.max()),
            "bound": bound,
            "uniform_std": bound / math.sqrt(3.0),
        }
    return {
        "setup": "llama golden base (f32); torch.manual_seed(0); get_peft_model(model, LoraConfig(r=4, "
        "lora_alpha=8, target_modules='all-linear')); statistics of each lora_A.default.weight [r, in_features]",
        "peft_default_init": "init_lora_weights=True (the default): LoraLayer.reset_lora_parameters does "
        "nn.init.kaiming_uniform_(lora_A.weight, a=math.sqrt(5)) and nn.init.zeros_(lora_B.weight) "
        "(peft/tuners/lora/layer.py). kaiming_uniform_ with a=sqrt(5), mode fan_in, leaky_relu gain "
        "sqrt(2/(1+a^2)) = sqrt(1/3): bound = gain*sqrt(3/fan_in) = 1/sqrt(fan_in), i.e. U(-1/sqrt(in), "
        "1/sqrt(in)), the same as torch's nn.Linear default weight init. init_lora_weights='gaussian' would "
        "instead use N(0, 1/r) for A.",
        "checked": "every lora_A value lies within +-bound; every lora_B is exactly zero",
        "per_module": stats,
    }


# --------------------------------------------------------------------------------------
# 3. Training parity
# --------------------------------------------------------------------------------------

TRAIN_TEXTS = [
    "The cat sat on the mat.",
    "Anna reads a small book in the garden.",
    "The old train stops near the river.",
    "Ben helps his friend carry the heavy table.",
    "A quiet bird sings by the window.",
    "Clara paints the tall mountain and the green tree in the city.",
    "How are you today? I am fine.",
    "Once upon a time, a brave fox lived in a warm house.",
]
MICRO_BATCH = 2
GRAD_ACCUM = 2
N_STEPS = 5
LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
LORA_TRAIN_CONFIG = dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
LORA_INIT_SEED = 0


def make_micro_batch(tok, idx: list[int]) -> dict:
    seqs = [tok(TRAIN_TEXTS[i])["input_ids"] for i in idx]
    L = max(len(s) for s in seqs)
    ids, mask, labels = [], [], []
    for s in seqs:
        pad = L - len(s)
        ids.append(s + [PAD_ID] * pad)
        mask.append([1] * len(s) + [0] * pad)
        labels.append([IGNORE_INDEX] + s[1:] + [IGNORE_INDEX] * pad)
    return {"text_indices": idx, "input_ids": ids, "attention_mask": mask, "labels": labels,
            "n_target_tokens": sum(len(s) - 1 for s in seqs)}


def schedule(tok) -> list[list[dict]]:
    steps = []
    n = len(TRAIN_TEXTS)
    per_step = MICRO_BATCH * GRAD_ACCUM
    for s in range(N_STEPS):
        idx = [(per_step * s + k) % n for k in range(per_step)]
        steps.append([make_micro_batch(tok, idx[m * MICRO_BATCH:(m + 1) * MICRO_BATCH]) for m in range(GRAD_ACCUM)])
    return steps


def summed_ce(model, mb: dict) -> torch.Tensor:
    ids = torch.tensor(mb["input_ids"])
    logits = model(input_ids=ids, attention_mask=torch.tensor(mb["attention_mask"])).logits.float()
    labels = torch.tensor(mb["labels"])
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="sum",
    )


def train(model, params_or_groups, steps: list[list[dict]]) -> list[dict]:
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params_or_groups, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    model.train()
    out = []
    for s, mbs in enumerate(steps):
        n_tok = sum(mb["n_target_tokens"] for mb in mbs)
        ce_sums = []
        for mb in mbs:
            ce = summed_ce(model, mb)
            ce_sums.append(float(ce.detach()))
            (ce / n_tok).backward()
        norm = float(torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM))
        opt.step()
        opt.zero_grad(set_to_none=True)
        out.append({
            "step": s,
            "loss": f64_sum(ce_sums) / n_tok,
            "grad_norm": norm,
            "clipped": norm > MAX_GRAD_NORM,
            "n_target_tokens": n_tok,
            "micro_batch_ce_sums": ce_sums,
        })
        print(f"   step {s}: loss {out[-1]['loss']:.6f} grad_norm {norm:.6f}")
    model.eval()
    return out


@torch.no_grad()
def eval_texts(model, tok) -> list[dict]:
    res = []
    for t in TRAIN_TEXTS:
        ids = tok(t)["input_ids"]
        n, nll = score(model, ids, [True] * len(ids))
        res.append({"n_tokens": n, "nll_sum": nll})
    return res


def write_train() -> dict:
    if TRAIN_DIR.exists():
        shutil.rmtree(TRAIN_DIR)
    TRAIN_DIR.mkdir(parents=True)
    tok = AutoTokenizer.from_pretrained(str(MODELS_DIR / "llama"))
    assert tok.pad_token_id == PAD_ID
    lens = [len(tok(t)["input_ids"]) for t in TRAIN_TEXTS]
    assert all(8 <= n <= 20 for n in lens), lens
    steps = schedule(tok)
    base_eval = eval_texts(load_base("llama"), tok)

    # Run A: LoRA
    print("== train lora")
    model = load_base("llama")
    torch.manual_seed(LORA_INIT_SEED)
    pm = get_peft_model(model, LoraConfig(**LORA_TRAIN_CONFIG))
    trainable_names = [n for n, p in pm.named_parameters() if p.requires_grad]
    assert trainable_names and all(".lora_A." in n or ".lora_B." in n for n in trainable_names)
    save_adapter(pm, TRAIN_DIR / "lora_init")
    init_sd = {n: p.detach().clone() for n, p in pm.named_parameters() if p.requires_grad}
    lora_steps = train(pm, [p for p in pm.parameters() if p.requires_grad], steps)
    # A got no gradient at step 0 (B = 0), but weight decay still shrank it by (1 - lr*wd)
    save_adapter(pm, TRAIN_DIR / "lora_final")
    lora_eval = eval_texts(pm, tok)
    reloaded = PeftModel.from_pretrained(load_base("llama"), str(TRAIN_DIR / "lora_final")).eval()
    assert all(abs(a["nll_sum"] - b["nll_sum"]) < 1e-4 for a, b in zip(lora_eval, eval_texts(reloaded, tok)))
    lora_init_keys = adapter_key_info(TRAIN_DIR / "lora_init")["keys"]
    a_max_delta = max(float((p.detach() - init_sd[n]).abs().max()) for n, p in pm.named_parameters()
                      if p.requires_grad)

    # Run B: full fine-tuning
    print("== train full")
    full = load_base("llama")
    assert full.lm_head.weight is full.model.embed_tokens.weight
    for p in full.parameters():
        p.requires_grad_(True)
    named = list(full.named_parameters())  # tied lm_head.weight appears once, as model.embed_tokens.weight
    decay = [n for n, p in named if p.ndim >= 2]
    no_decay = [n for n, p in named if p.ndim < 2]
    groups = [
        {"params": [p for n, p in named if p.ndim >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in named if p.ndim < 2], "weight_decay": 0.0},
    ]
    full_steps = train(full, groups, steps)
    assert full.lm_head.weight is full.model.embed_tokens.weight
    full_eval = eval_texts(full, tok)
    final = {
        "model.norm.weight": full.model.norm.weight.detach().clone().contiguous(),
        "model.layers.0.input_layernorm.weight": full.model.layers[0].input_layernorm.weight.detach().clone()
        .contiguous(),
    }
    init_full = load_base("llama")
    final_delta = {k: float((v - init_full.state_dict()[k]).abs().max()) for k, v in final.items()}
    safetensors.torch.save_file(
        {
            "losses": torch.tensor([s["loss"] for s in full_steps], dtype=torch.float64),
            "grad_norms": torch.tensor([s["grad_norm"] for s in full_steps], dtype=torch.float64),
            **final,
        },
        str(TRAIN_DIR / "full_golden.safetensors"),
        metadata={"generator": SCRIPT},
    )

    hyper = {
        "base_model_dir": (MODELS_DIR / "llama").as_posix(),
        "dtype": "float32",
        "attn_implementation": "eager",
        "device": "cpu, torch.set_num_threads(1), torch.use_deterministic_algorithms(True)",
        "micro_batch_size": MICRO_BATCH,
        "grad_accum_steps": GRAD_ACCUM,
        "n_steps": N_STEPS,
        "schedule": "step s uses texts [(4s + k) % 8 for k in 0..4]: micro-batch m = texts [4s+2m, 4s+2m+1] (mod 8)",
        "pad_token_id": PAD_ID,
        "padding": "right, to the longest sequence of the micro-batch; attention_mask 0 on padding; no position_ids "
        "passed (positions 0..L-1, so real tokens keep positions 0..n-1)",
        "labels": "ids with -100 on position 0 and on padding; loss uses logits[:, :-1] against labels[:, 1:]",
        "loss": "per step: sum over both micro-batches of F.cross_entropy(reduction='sum', ignore_index=-100) "
        "(f32) / number of target tokens of the whole step; each micro-batch backward()s ce_sum / n_step_tokens",
        "logged_loss": "f64 sum of the two micro-batch f32 ce sums / n_target_tokens",
        "optimizer": {"type": "torch.optim.AdamW", "lr": LR, "betas": list(BETAS), "eps": EPS,
                      "weight_decay": WEIGHT_DECAY, "amsgrad": False, "lr_schedule": "constant, no warmup",
                      "foreach": "torch default (single-tensor on CPU)"},
        "adamw_update": "t += 1; p *= 1 - lr*wd (decoupled, applied even where grad is 0); m = b1*m + (1-b1)*g; "
        "v = b2*v + (1-b2)*g^2; p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)",
        "grad_clip": {"max_norm": MAX_GRAD_NORM, "rule": "torch.nn.utils.clip_grad_norm_: total = 2-norm over all "
                      "trainable grads; coef = min(1, max_norm / (total + 1e-6)); grads *= coef",
                      "grad_norm_logged": "pre-clip total norm (the return value)"},
        "dropout": "none: lora_dropout 0, attention_dropout 0 (model.train() during steps)",
    }
    golden = {
        "texts": TRAIN_TEXTS,
        "text_n_tokens_with_bos": lens,
        "hyperparameters": hyper,
        "steps": [{"step": s, "micro_batches": mbs} for s, mbs in enumerate(steps)],
        "lora": {
            "lora_config_kwargs": LORA_TRAIN_CONFIG,
            "init": f"torch.manual_seed({LORA_INIT_SEED}) right before get_peft_model; PEFT default init "
            "(A kaiming_uniform a=sqrt(5), B zero); saved to train/lora_init before any step",
            "init_dir": (TRAIN_DIR / "lora_init").as_posix(),
            "final_dir": (TRAIN_DIR / "lora_final").as_posix(),
            "trainable": "all lora_A / lora_B weights, one AdamW param group, weight_decay 0.01",
            "n_trainable_params": sum(p.numel() for p in init_sd.values()),
            "state_dict_keys": lora_init_keys,
            "per_step": lora_steps,
            "final_eval_texts": lora_eval,
            "note": "step 0 loss equals the base model loss (B = 0) and only B gets a gradient at step 0",
        },
        "full": {
            "trainable": "all parameters; tied lm_head.weight is model.embed_tokens.weight (one parameter, stays tied)",
            "param_groups": [{"weight_decay": WEIGHT_DECAY, "params": decay}, {"weight_decay": 0.0, "params": no_decay}],
            "n_trainable_params": sum(p.numel() for p in full.parameters()),
            "per_step": full_steps,
            "final_eval_texts": full_eval,
            "golden_safetensors": (TRAIN_DIR / "full_golden.safetensors").as_posix(),
            "final_tensors": list(final),
            "final_tensors_max_abs_change": final_delta,
        },
        "base_eval_texts": base_eval,
        "final_eval_definition": "after the 5 steps, eval mode, per text: ids with BOS, no padding; n_tokens and "
        "nll_sum as texts.nll_sum in MANIFEST golden_definitions",
    }
    (TRAIN_DIR / "golden.json").write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert abs(lora_steps[0]["loss"] - full_steps[0]["loss"]) < 1e-6
    return {
        "texts_token_lengths": lens,
        "lora_losses": [s["loss"] for s in lora_steps],
        "lora_grad_norms": [s["grad_norm"] for s in lora_steps],
        "full_losses": [s["loss"] for s in full_steps],
        "full_grad_norms": [s["grad_norm"] for s in full_steps],
        "lora_max_abs_param_change": a_max_delta,
        "full_final_tensors_max_abs_change": final_delta,
    }


# --------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------


def describe(rel: str) -> str:
    name = rel.split("/")[-1]
    if rel.startswith("adapters/"):
        return {
            "adapter_config.json": "PEFT adapter config as written by PeftModel.save_pretrained",
            "adapter_model.safetensors": "PEFT adapter weights (keys base_model.model.<module>.lora_{A,B}.weight)",
            "golden.json": "NLL sums with the adapter active and merged, state-dict keys",
            "golden.safetensors": "input_ids (= base input_ids_1), logits_0 (merged), logits_unmerged_0 (f32)",
        }[name]
    if rel.startswith("train/lora_init/"):
        return "initial LoRA adapter of the training run (PEFT format, before step 0)"
    if rel.startswith("train/lora_final/"):
        return "LoRA adapter after the 5 training steps (PEFT format)"
    return {
        "train/golden.json": "training parity: texts, micro-batches, hyperparameters, per-step loss/grad_norm",
        "train/full_golden.safetensors": "full fine-tuning: losses, grad_norms (f64) and final model.norm.weight, "
        "model.layers.0.input_layernorm.weight",
    }[rel]


def file_entry(path: Path, description: str) -> dict:
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "description": description}


def main() -> None:
    assert (MODELS_DIR / "llama" / "golden.json").exists(), "run make_model_goldens.py first"
    if ADAPTERS_DIR.exists():
        shutil.rmtree(ADAPTERS_DIR)
    ADAPTERS_DIR.mkdir(parents=True)
    adapters = {spec["name"]: write_adapter(spec) for spec in ADAPTER_SPECS}
    init_check = lora_init_check()
    train_info = write_train()

    # the training run's initial A is the init-check's A (same seed, same modules)
    init_sd = safetensors.torch.load_file(str(TRAIN_DIR / "lora_init" / "adapter_model.safetensors"))
    for mod, st in init_check["per_module"].items():
        a = init_sd[f"base_model.model.{mod}.lora_A.weight"]
        assert abs(float(a.mean()) - st["mean"]) == 0 and float(a.max()) == st["max"], mod
    init_check["same_as_train_lora_init"] = True

    manifest_path = OUT / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    files = {k: v for k, v in manifest["files"].items() if not k.startswith(("adapters/", "train/"))}
    for sub in (ADAPTERS_DIR, TRAIN_DIR):
        for p in sorted(sub.rglob("*")):
            if p.is_file():
                rel = p.relative_to(OUT).as_posix()
                files[rel] = file_entry(p, describe(rel))
    new_bytes = sum(v["size"] for k, v in files.items() if k.startswith(("adapters/", "train/")))
    manifest["files"] = dict(sorted(files.items()))
    manifest["total_bytes"] = sum(f["size"] for f in files.values())
    manifest["adapter_goldens"] = {
        "generator": SCRIPT,
        "command": COMMAND,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
            "peft": peft.__version__,
            "accelerate": accelerate.__version__,
        },
        "device": "cpu, torch.set_num_threads(1), torch.use_deterministic_algorithms(True), attn_implementation=eager, "
        "f32; PYTHONHASHSEED=0",
        "seeds": {
            **{f"adapter_{s['name']}": s["seed"] for s in ADAPTER_SPECS},
            "lora_init_check": 0,
            "train_lora_init": LORA_INIT_SEED,
        },
        "peft_format": {
            "files": "adapter_config.json (json.dumps(indent=2, sort_keys=True)) + adapter_model.safetensors "
            "(metadata {'format': 'pt'}); PEFT also writes README.md, deleted here",
            "key_naming": "base_model.model.<module path in the base model>.lora_A.weight / .lora_B.weight "
            "(the adapter name 'default' is removed on save); lora_A is [r, in_features], lora_B [out_features, r]",
            "all_linear": "target_modules='all-linear' is expanded to the set of full module names of every "
            "nn.Linear except the output embedding (lm_head, found via get_output_embeddings(), so it is excluded "
            "for tied and untied models alike); saved as list(set), order arbitrary; PEFT matches a target t "
            "against module name n iff n == t or n.endswith('.' + t)",
            "scaling": "lora_alpha / r, or lora_alpha / sqrt(r) when use_rslora",
        },
        "adapters": adapters,
        "lora_init_check": init_check,
        "train": train_info,
        "golden_definitions": {
            "adapters.texts.nll_sum": "as texts.nll_sum (golden_definitions above) with PeftModel.from_pretrained"
            "(base, adapter dir) active (unmerged)",
            "adapters.texts.nll_sum_merged": "the same after merge_and_unload()",
            "adapters.chats": "as chats.nll_sum above, same assistant-span algorithm",
            "adapters.logits_0": "merged-model logits for base input_ids_1 [1, 24, 512]; logits_unmerged_0 the same "
            "with the adapter active",
        },
        "new_bytes": new_bytes,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("adapter/train bytes:", new_bytes)
    print(json.dumps(train_info, indent=1))


if __name__ == "__main__":
    main()

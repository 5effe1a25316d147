#!/usr/bin/env python3
"""Generate the preference-alignment (DPO, IPO, hinge, robust, ORPO, SimPO) goldens.

Run from anywhere (CPU only, no network, about 15 s), after make_model_goldens.py has
written tests/golden/models/llama:

    /opt/refvenv/bin/python reference/make_dpo_goldens.py

(any venv with the versions pinned in reference/requirements.txt, trl included.) The script
re-executes itself with PYTHONHASHSEED=0 because PEFT writes `target_modules` to
adapter_config.json as list(set), whose order depends on string hashing.

It writes, deterministically (re-running gives identical files), under tests/golden/dpo/:

* pairs.jsonl          the 8 training pairs, TRL's conversational layout with an explicit prompt.
* tokenization.json    the token ids TRL's DPOTrainer builds for those pairs (its own
                       `_prepare_dataset`, run inside the trainer), plus extra tokenisation cases
                       (plain strings, implicit prompts, OpenAI's layout, a token merge across the
                       prompt/completion boundary, truncation, a dropped pair) with the ids
                       `_prepare_dataset` and `DataCollatorForPreference` produce.
* lora_init/           the initial LoRA adapter (PEFT layout, save_pretrained) every run starts
                       from. lora_B is NOT zero (N(0, 0.05)), so the policy already differs from
                       the reference (the base with adapters disabled) at step 0.
* lora_final_dpo_sigmoid/   the adapter after the 5 sigmoid-DPO steps.
* runs/<name>.json     5 optimiser steps of the real TRL trainer per loss (dpo_sigmoid, dpo_ipo,
                       dpo_hinge, dpo_sigmoid_label_smoothing_0.1, dpo_robust_label_smoothing_0.1,
                       orpo, simpo) and per reference model (dpo_sigmoid_reference_start_adapter:
                       a frozen copy of lora_init; dpo_sigmoid_full: full fine-tuning against a
                       frozen copy of the base), and sigmoid + TRL's "sft" loss (RPO,
                       dpo_sigmoid_sft): per-step loss, rewards, logps, grad norm, the exact
                       batches; hyperparameters; step 0 recomputed by hand from full logits.
* MANIFEST.json (tests/golden/)   adds the "dpo_goldens" section and the dpo/ file entries; the
                       other generators' entries and sections are kept.

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
import logging
import math
import platform
import re
import shutil
import tempfile
import types
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import accelerate
import datasets
import peft
import safetensors
import safetensors.torch
import tokenizers
import torch
import torch.nn.functional as F
import transformers
import trl
from datasets import Dataset
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

REPO = Path(__file__).resolve().parent.parent
os.chdir(REPO)  # relative paths only: they end up in adapter_config.json (base_model_name_or_path)

GOLDEN = Path("tests/golden")
OUT = GOLDEN / "dpo"
BASE_DIR = GOLDEN / "models" / "llama"
SCRIPT = "reference/make_dpo_goldens.py"
COMMAND = "/opt/refvenv/bin/python reference/make_dpo_goldens.py"

SEED = 42
LORA_INIT_SEED = 3001
LORA_B_STD = 0.05
LORA_CONFIG = dict(
    r=4,
    lora_alpha=8,
    lora_dropout=0.0,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    task_type="CAUSAL_LM",
)
BATCH = 4
N_STEPS = 5
LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8
MAX_GRAD_NORM = 1.0
MAX_LENGTH = 64
BETA = 0.1
PAD_ID = 511

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
datasets.logging.set_verbosity_error()
datasets.disable_caching()
logging.getLogger("trl").setLevel(logging.ERROR)
logging.getLogger("accelerate").setLevel(logging.ERROR)


def U(s: str) -> dict:
    return {"role": "user", "content": s}


def A(s: str) -> dict:
    return {"role": "assistant", "content": s}


def S(s: str) -> dict:
    return {"role": "system", "content": s}


# The training pairs: TRL conversational layout, explicit prompt. Short, so that every
# prompt + completion fits MAX_LENGTH (checked) and nothing is truncated during training.
PAIRS = [
    {"prompt": [U("What colour is the sky?")], "chosen": [A("It is blue.")], "rejected": [A("It is green.")]},
    {"prompt": [U("Name a fruit.")], "chosen": [A("An apple.")], "rejected": [A("A chair.")]},
    {"prompt": [S("Answer in one word."), U("Capital of France?")], "chosen": [A("Paris.")],
     "rejected": [A("London.")]},
    {"prompt": [U("Is ice cold?")], "chosen": [A("Yes, ice is cold.")], "rejected": [A("No.")]},
    {"prompt": [U("How many legs does a cat have?")], "chosen": [A("Four.")], "rejected": [A("Seven legs.")]},
    {"prompt": [S("Be brief."), U("Hi"), A("Hello"), U("Thanks")], "chosen": [A("You are welcome.")],
     "rejected": [A("No.")]},
    {"prompt": [U("What do bees make?")], "chosen": [A("Bees make honey.")], "rejected": [A("Bees make cars.")]},
    {"prompt": [U("Count to three.")], "chosen": [A("One, two, three.")], "rejected": [A("Three, two.")]},
]

# Extra tokenisation cases. `record` is what whet reads (a dataset line); `trl` is what TRL is
# given (the same, except for OpenAI's layout, which TRL does not read: the script converts it to
# TRL's explicit conversational layout, prompt = input.messages). `max_length` drives the
# collator's truncation; `dropped` cases are removed by `_prepare_dataset` (prompt alone fills
# max_length).
CASES = [
    dict(name="conversational_explicit", record=PAIRS[0]),
    dict(name="conversational_multiturn_prompt", record=PAIRS[5]),
    dict(name="plain_strings_eos_appended",
         record={"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}),
    dict(name="plain_strings_token_merge_across_boundary",
         record={"prompt": "The ca", "chosen": "t sat.", "rejected": "t ran."}),
    dict(name="plain_strings_eos_already_present",
         record={"prompt": "Hello", "chosen": " world.<|end_of_text|>", "rejected": " there."}),
    dict(name="implicit_prompt_conversational",
         record={"chosen": [U("Name a fruit."), A("An apple.")], "rejected": [U("Name a fruit."), A("A chair.")]}),
    dict(name="implicit_prompt_conversational_multiturn",
         record={"chosen": [U("Hi"), A("Hello"), U("Thanks"), A("You are welcome.")],
                 "rejected": [U("Hi"), A("Hello"), U("Thanks"), A("No.")]}),
    dict(name="implicit_prompt_plain_strings",
         record={"chosen": "The sky is blue.", "rejected": "The sky is green."}),
    dict(name="openai_dpo_layout",
         record={"input": {"messages": [U("Name a fruit.")]},
                 "preferred_output": [A("An apple.")], "non_preferred_output": [A("A chair.")]},
         trl={"prompt": [U("Name a fruit.")], "chosen": [A("An apple.")], "rejected": [A("A chair.")]}),
    dict(name="truncated_keep_start", record=PAIRS[0], max_length=45),
    dict(name="truncated_keep_end", record=PAIRS[0], max_length=45, truncation_mode="keep_end"),
    dict(name="dropped_prompt_fills_max_length", record=PAIRS[0], max_length=42),
]


def load_base():
    return AutoModelForCausalLM.from_pretrained(str(BASE_DIR), dtype=torch.float32, attn_implementation="eager")


def load_tokenizer():
    tok = AutoTokenizer.from_pretrained(str(BASE_DIR))
    assert tok.pad_token_id == PAD_ID and tok.bos_token_id == 507 and tok.eos_token_id == 508
    return tok


def file_entry(path: Path, description: str) -> dict:
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "description": description}


def save_adapter(pm, d: Path) -> None:
    if d.exists():
        shutil.rmtree(d)
    pm.save_pretrained(str(d))
    readme = d / "README.md"  # PEFT's model card: not part of the adapter format
    if readme.exists():
        readme.unlink()


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def compact_json(path: Path, obj) -> None:
    """JSON with one list of ints per line: small and still readable."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    text = re.sub(r"\[\s+([-0-9.e, \n]+?)\s+\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------
# 1. Tokenisation, with TRL's own code
# --------------------------------------------------------------------------------------


def trl_prepare(records: list[dict], tok, max_length: int | None, truncation_mode: str = "keep_start") -> list[dict]:
    """DPOTrainer._prepare_dataset on `records`, unbound: it only reads `self._tokenizer`."""
    stub = types.SimpleNamespace(_tokenizer=tok)
    args = types.SimpleNamespace(dataset_num_proc=None, max_length=max_length, truncation_mode=truncation_mode)
    ds = DPOTrainer._prepare_dataset(stub, Dataset.from_list(records), tok, args, "golden")
    return [{k: ds[i][k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for i in range(len(ds))]


def collate_one(ex: dict, max_length: int | None, truncation_mode: str) -> dict:
    """The collator's per-sequence output, without the padding (rows: chosen, rejected)."""
    coll = DataCollatorForPreference(pad_token_id=PAD_ID, max_length=max_length, truncation_mode=truncation_mode)
    b = coll([ex])
    rows = []
    for ids, mask, comp in zip(b["input_ids"].tolist(), b["attention_mask"].tolist(), b["completion_mask"].tolist(),
                               strict=True):
        n = sum(mask)
        assert all(mask[:n]) and not any(mask[n:])
        rows.append((ids[:n], comp[:n]))
    return {"chosen_input_ids": rows[0][0], "chosen_completion_mask": rows[0][1],
            "rejected_input_ids": rows[1][0], "rejected_completion_mask": rows[1][1]}


def write_tokenization(tok) -> list[dict]:
    lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PAIRS)
    (OUT / "pairs.jsonl").write_text(lines, encoding="utf-8")
    train_ids = trl_prepare(PAIRS, tok, MAX_LENGTH)
    for p, t in zip(PAIRS, train_ids, strict=True):
        n = len(t["prompt_ids"]) + max(len(t["chosen_ids"]), len(t["rejected_ids"]))
        assert n <= MAX_LENGTH, (p, n)
    cases = []
    for c in CASES:
        trl_record = c.get("trl", c["record"])
        max_length = c.get("max_length")
        mode = c.get("truncation_mode", "keep_start")
        got = trl_prepare([trl_record], tok, max_length, mode)
        case = {"name": c["name"], "record": c["record"], "max_length": max_length, "truncation_mode": mode}
        if "trl" in c:
            case["trl_record"] = trl_record
        if not got:
            case["dropped"] = True
            full = trl_prepare([trl_record], tok, None)[0]
            case.update(full)
            assert len(full["prompt_ids"]) >= max_length
        else:
            case["dropped"] = False
            case.update(got[0])
            case.update(collate_one(got[0], max_length, mode))
        cases.append(case)
        print(f"   case {c['name']}: prompt {len(case['prompt_ids'])} chosen {len(case['chosen_ids'])} "
              f"rejected {len(case['rejected_ids'])}{' (dropped)' if case['dropped'] else ''}")
    merge = next(c for c in cases if c["name"] == "plain_strings_token_merge_across_boundary")
    assert tok("The ca")["input_ids"] != merge["prompt_ids"], "the merge case no longer merges"
    compact_json(OUT / "tokenization.json", {
        "tokenizer_dir": BASE_DIR.as_posix(),
        "trl_version": trl.__version__,
        "rules": TOKENIZATION_RULES,
        "training_pairs": {"file": (OUT / "pairs.jsonl").as_posix(), "max_length": MAX_LENGTH, "tokenized": train_ids},
        "cases": cases,
    })
    return train_ids


TOKENIZATION_RULES = {
    "source": "trl/trainer/dpo_trainer.py: DPOTrainer._prepare_dataset (tokenize_fn) and DataCollatorForPreference",
    "implicit_prompt": "no `prompt` key in the first example: trl.data_utils.extract_prompt: the prompt is the longest "
    "common prefix of chosen and rejected (messages compared whole for conversations, characters for strings); for "
    "strings, a space just before the divergence goes to the completions; if no element differs within the shorter "
    "one, the prefix is all but its last element",
    "conversational": "prompt_ids = apply_chat_template(prompt, add_generation_prompt=True, tools=None, tokenize=True); "
    "prompt_chosen_ids = apply_chat_template(prompt + chosen, tokenize=True) (no generation prompt), same for "
    "rejected. apply_chat_template tokenizes the rendered text with add_special_tokens=False, so BOS comes only from "
    "the template. No EOS is appended: the completion ends with whatever the template writes after an assistant "
    "turn (here <|im_end|> and a newline)",
    "plain_strings": "EOS text (tokenizer.eos_token) is appended to chosen and to rejected unless the string already "
    "ends with it; prompt_ids = tokenizer(prompt) and prompt_chosen_ids = tokenizer(prompt + chosen) (string "
    "concatenation, add_special_tokens=True, so BOS from the post-processor)",
    "split": "n = min(common_prefix_length(prompt_ids, prompt_chosen_ids), common_prefix_length(prompt_ids, "
    "prompt_rejected_ids)); prompt_ids = prompt_ids[:n]; chosen_ids = prompt_chosen_ids[n:]; rejected_ids = "
    "prompt_rejected_ids[n:] (so a token merged across the boundary moves to the completions)",
    "drop": "with max_length set and truncation_mode keep_start, pairs with len(prompt_ids) >= max_length are removed",
    "truncation": "in the collator, per sequence: prompt_ids + chosen_ids (and + rejected_ids) cut to the first "
    "max_length tokens (keep_start) or the last max_length (keep_end, deprecated); the completion mask is cut the "
    "same way. No max_prompt_length / max_completion_length exist in this TRL version",
    "collate": "input_ids = [prompt+chosen for each pair] + [prompt+rejected for each pair], right-padded with "
    "pad_token_id to the longest row; attention_mask 1 on real tokens; completion_mask 1 on completion tokens",
}


# --------------------------------------------------------------------------------------
# 2. The initial adapter
# --------------------------------------------------------------------------------------


def write_lora_init() -> dict:
    torch.manual_seed(LORA_INIT_SEED)
    pm = get_peft_model(load_base(), LoraConfig(**LORA_CONFIG))
    g = torch.Generator().manual_seed(LORA_INIT_SEED)
    with torch.no_grad():
        for name, p in sorted(pm.named_parameters(), key=lambda kv: kv[0]):
            if ".lora_B." in name:
                p.copy_(LORA_B_STD * torch.randn(p.shape, generator=g, dtype=torch.float32))
    save_adapter(pm, OUT / "lora_init")
    sd = safetensors.torch.load_file(str(OUT / "lora_init" / "adapter_model.safetensors"))
    return sd


def load_init_into(pm, init_sd: dict) -> None:
    res = set_peft_model_state_dict(pm, init_sd)
    assert not res.unexpected_keys, res.unexpected_keys
    got = {n.replace(".default.", "."): p for n, p in pm.named_parameters() if p.requires_grad}
    assert set(got) == set(init_sd), sorted(set(got) ^ set(init_sd))[:4]
    for k, v in init_sd.items():
        assert torch.equal(got[k].detach(), v), k


# --------------------------------------------------------------------------------------
# 3. Training runs with the real TRL trainers
# --------------------------------------------------------------------------------------


def common_args(out_dir: str) -> dict:
    return dict(
        output_dir=out_dir,
        per_device_train_batch_size=BATCH,
        gradient_accumulation_steps=1,
        max_steps=N_STEPS,
        learning_rate=LR,
        weight_decay=0.0,
        adam_beta1=BETAS[0],
        adam_beta2=BETAS[1],
        adam_epsilon=EPS,
        optim="adamw_torch",
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=MAX_GRAD_NORM,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=SEED,
        data_seed=SEED,
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        dataloader_drop_last=False,
        train_sampling_strategy="sequential",
        disable_tqdm=True,
        max_length=MAX_LENGTH,
        beta=BETA,
    )


def capturing(cls):
    """The trainer class, recording each training batch and the exact loss tensor value."""

    class Capturing(cls):
        captured: list

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            value = loss[0] if isinstance(loss, tuple) else loss
            self.captured.append({"inputs": {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in inputs.items()},
                                  "loss": float(value.detach())})
            return loss

    Capturing.captured = []
    return Capturing


LOG_KEYS = ["loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected", "rewards/margins",
            "rewards/accuracies", "logps/chosen", "logps/rejected"]


def step_logs(trainer, extra_keys: list[str]) -> list[dict]:
    logs = [h for h in trainer.state.log_history if "loss" in h and "train_runtime" not in h]
    assert [h["step"] for h in logs] == list(range(1, N_STEPS + 1)), logs
    out = []
    for h in logs:
        out.append({k: h[k] for k in LOG_KEYS + extra_keys if k in h})
    return out


def expected_order() -> list[list[int]]:
    n = len(PAIRS)
    return [[(BATCH * s + k) % n for k in range(BATCH)] for s in range(N_STEPS)]


def run_dpo(name: str, init_sd: dict, tok, train_ids: list[dict], reference: str = "base", **dpo_kwargs) -> dict:
    """reference: "base" (peft_config: the reference is the base with adapters disabled),
    "start_adapter" (an already-wrapped PeftModel: TRL copies its adapter into a frozen 'ref'
    adapter) or "full" (no PEFT: every weight trains, the reference is a frozen copy of the model)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(**common_args(tmp), **dpo_kwargs)
        cls = capturing(DPOTrainer)
        data = Dataset.from_list(PAIRS)
        if reference == "base":
            trainer = cls(model=load_base(), args=args, train_dataset=data, processing_class=tok,
                          peft_config=LoraConfig(**LORA_CONFIG))
            assert trainer.ref_model is None and "ref" not in trainer.model.peft_config  # ref = adapters disabled
            load_init_into(trainer.model, init_sd)
        elif reference == "start_adapter":
            pm = PeftModel.from_pretrained(load_base(), str(OUT / "lora_init"), is_trainable=True)
            load_init_into(pm, init_sd)
            trainer = cls(model=pm, args=args, train_dataset=data, processing_class=tok)
            assert trainer.ref_model is None and "ref" in trainer.model.peft_config  # ref = frozen copy of lora_init
        else:
            assert reference == "full", reference
            trainer = cls(model=load_base(), args=args, train_dataset=data, processing_class=tok)
            assert trainer.ref_model is not None  # a frozen copy of the starting model
        ds = trainer.train_dataset
        assert [{k: ds[i][k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for i in range(len(ds))] \
            == train_ids
        trainer.train()
        captured = cls.captured
        if name == "dpo_sigmoid":
            save_adapter(trainer.model, OUT / "lora_final_dpo_sigmoid")
    assert len(captured) == N_STEPS
    logs = step_logs(trainer, [])
    coll = DataCollatorForPreference(pad_token_id=PAD_ID, max_length=MAX_LENGTH)
    steps = []
    for s, (cap, log, order) in enumerate(zip(captured, logs, expected_order(), strict=True)):
        want = coll([train_ids[i] for i in order])
        assert all(cap["inputs"][k] == want[k].tolist() for k in ("input_ids", "attention_mask", "completion_mask"))
        assert abs(cap["loss"] - log["loss"]) <= 1e-6 * max(1.0, abs(log["loss"])), (cap["loss"], log["loss"])
        steps.append({"step": s, "pair_indices": order, **log, "loss_f32": cap["loss"],
                      "clipped": log["grad_norm"] > MAX_GRAD_NORM,
                      "batch": {k: cap["inputs"][k] for k in ("input_ids", "attention_mask", "completion_mask")}})
    return {"trainer": "trl.DPOTrainer", "steps": steps}


def run_reference_free(name: str, init_sd: dict, tok, cls_name: str, config_cls, trainer_cls, **kwargs) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        args = config_cls(**{**common_args(tmp), **kwargs})
        cls = capturing(trainer_cls)
        pm = PeftModel.from_pretrained(load_base(), str(OUT / "lora_init"), is_trainable=True)
        load_init_into(pm, init_sd)
        trainer = cls(model=pm, args=args, train_dataset=Dataset.from_list(PAIRS), processing_class=tok)
        ds = trainer.train_dataset
        tokenized = [{"prompt_ids": ds[i]["prompt_input_ids"], "chosen_ids": ds[i]["chosen_input_ids"],
                      "rejected_ids": ds[i]["rejected_input_ids"], "chosen_labels": ds[i]["chosen_labels"],
                      "rejected_labels": ds[i]["rejected_labels"]} for i in range(len(ds))]
        trainer.train()
        captured = cls.captured
    logs = step_logs(trainer, ["nll_loss", "log_odds_ratio", "log_odds_chosen"])
    steps = []
    for s, (cap, log, order) in enumerate(zip(captured, logs, expected_order(), strict=True)):
        inp = cap["inputs"]
        assert [inp["chosen_input_ids"][j][:len(tokenized[i]["chosen_ids"])] for j, i in enumerate(order)] \
            == [tokenized[i]["chosen_ids"] for i in order]
        assert abs(cap["loss"] - log["loss"]) <= 1e-6 * max(1.0, abs(log["loss"])), (cap["loss"], log["loss"])
        steps.append({"step": s, "pair_indices": order, **log, "loss_f32": cap["loss"],
                      "clipped": log["grad_norm"] > MAX_GRAD_NORM,
                      "batch": {k: inp[k] for k in ("chosen_input_ids", "chosen_attention_mask", "chosen_labels",
                                                    "rejected_input_ids", "rejected_attention_mask",
                                                    "rejected_labels")}})
    return {"trainer": cls_name, "steps": steps, "tokenized": tokenized}


# --------------------------------------------------------------------------------------
# 4. Step 0 recomputed by hand (checks the formulas written into the goldens)
# --------------------------------------------------------------------------------------


@torch.no_grad()
def per_token_logps(model, ids, attn, target_mask):
    """log p(ids[j] | ids[:j]) for j >= 1 where target_mask[j]; [B, L-1] zeros elsewhere."""
    logits = model(input_ids=ids, attention_mask=attn).logits.float()
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return lp * target_mask[:, 1:]


@torch.no_grad()
def check_dpo_step0(run: dict, loss_type: str, label_smoothing: float, reference: str = "base",
                    sft_weight: float = 0.0) -> dict:
    b = run["steps"][0]["batch"]
    ids, attn, comp = (torch.tensor(b[k]) for k in ("input_ids", "attention_mask", "completion_mask"))
    pm = (load_base() if reference == "full" else PeftModel.from_pretrained(load_base(), str(OUT / "lora_init"))).eval()
    pol = per_token_logps(pm, ids, attn, comp).sum(1)
    if reference == "base":
        with pm.disable_adapter():
            ref = per_token_logps(pm, ids, attn, comp).sum(1)
    else:  # the reference is the starting policy itself: zero margins at step 0
        ref = pol.clone()
    n = ids.shape[0] // 2
    pc, pr, rc, rr = pol[:n], pol[n:], ref[:n], ref[n:]
    delta = (pc - rc) - (pr - rr)
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(BETA * delta)
    elif loss_type == "ipo":
        lc, lr = comp[:n].sum(1), comp[n:].sum(1)
        losses = (((pc - rc) / lc - (pr - rr) / lr) - 1 / (2 * BETA)) ** 2
    elif loss_type == "hinge":
        losses = torch.relu(1 - BETA * delta)
    elif loss_type == "robust":
        e = label_smoothing
        losses = (-(1 - e) * F.logsigmoid(BETA * delta) + e * F.logsigmoid(-BETA * delta)) / (1 - 2 * e)
    loss = losses.mean()
    if sft_weight:  # + sft_weight * mean NLL over every chosen completion token of the batch
        chosen_tok = per_token_logps(pm, ids[:n], attn[:n], comp[:n])
        loss = loss + sft_weight * -(chosen_tok.sum() / comp[:n, 1:].sum())
    got = run["steps"][0]
    mine = {"loss": float(loss), "rewards/chosen": float((BETA * (pc - rc)).mean()),
            "rewards/rejected": float((BETA * (pr - rr)).mean()), "logps/chosen": float(pc.mean()),
            "logps/rejected": float(pr.mean())}
    worst = max(abs(mine[k] - got[k]) / max(1.0, abs(got[k])) for k in mine)
    assert worst < 1e-5, (loss_type, mine, got)
    return {"max_rel_diff_step0_by_hand_vs_trl": worst,
            "step0_reference_logps_chosen": rc.tolist(), "step0_reference_logps_rejected": rr.tolist(),
            "step0_policy_logps_chosen": pc.tolist(), "step0_policy_logps_rejected": pr.tolist()}


@torch.no_grad()
def check_reference_free_step0(run: dict, kind: str, beta: float, gamma: float = 0.0) -> dict:
    b = run["steps"][0]["batch"]
    pm = PeftModel.from_pretrained(load_base(), str(OUT / "lora_init")).eval()
    out = {}
    for side in ("chosen", "rejected"):
        ids = torch.tensor(b[f"{side}_input_ids"])
        attn = torch.tensor(b[f"{side}_attention_mask"])
        labels = torch.tensor(b[f"{side}_labels"])
        lp = per_token_logps(pm, ids, attn, (labels != -100).long())
        out[side] = lp.sum(1) / (labels[:, 1:] != -100).sum(1)  # average over completion tokens
        if side == "chosen":
            logits = pm(input_ids=ids, attention_mask=attn).logits.float()
            tgt = torch.where(attn == 1, ids, -100)
            nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
    c, r = out["chosen"], out["rejected"]
    if kind == "orpo":
        log_odds = (c - r) - (torch.log1p(-torch.exp(c)) - torch.log1p(-torch.exp(r)))
        loss = nll - (beta * F.logsigmoid(log_odds)).mean()
        mine = {"loss": float(loss), "nll_loss": float(nll)}
    else:  # simpo, cpo_alpha = 0
        losses = -F.logsigmoid(beta * ((c - r) - gamma / beta))
        mine = {"loss": float(losses.mean())}
    mine.update({"rewards/chosen": float((beta * c).mean()), "rewards/rejected": float((beta * r).mean()),
                 "logps/chosen": float(c.mean()), "logps/rejected": float(r.mean())})
    got = run["steps"][0]
    worst = max(abs(mine[k] - got[k]) / max(1.0, abs(got[k])) for k in mine)
    assert worst < 1e-5, (kind, mine, got)
    return {"max_rel_diff_step0_by_hand_vs_trl": worst}


# --------------------------------------------------------------------------------------
# 5. Main
# --------------------------------------------------------------------------------------


def hyperparameters() -> dict:
    return {
        "base_model_dir": BASE_DIR.as_posix(),
        "dtype": "float32",
        "attn_implementation": "eager",
        "device": "cpu, torch.set_num_threads(1), torch.use_deterministic_algorithms(True)",
        "lora_config_kwargs": LORA_CONFIG,
        "initial_adapter_dir": (OUT / "lora_init").as_posix(),
        "per_device_train_batch_size": BATCH,
        "gradient_accumulation_steps": 1,
        "n_steps": N_STEPS,
        "batch_order": "sampler 'sequential' (train_sampling_strategy), no shuffling: step s uses pairs "
        "[(4s + k) % 8 for k in 0..4] (3 epochs over 8 pairs, the last one partial)",
        "optimizer": {"type": "torch.optim.AdamW (optim='adamw_torch')", "lr": LR, "betas": list(BETAS), "eps": EPS,
                      "weight_decay": 0.0, "lr_schedule": "constant, no warmup"},
        "max_grad_norm": MAX_GRAD_NORM,
        "grad_norm_logged": "total 2-norm over all trainable grads before clipping; clipping then scales grads by "
        "min(1, max_grad_norm / (norm + 1e-6))",
        "max_length": MAX_LENGTH,
        "seed": SEED,
        "dropout": "none (lora_dropout 0, disable_dropout=True, model.train() during steps)",
        "trainable": "lora_A and lora_B of the 7 projections in both layers (28 tensors)",
    }


def describe(rel: str) -> str:
    if rel.startswith("dpo/lora_init/"):
        return "initial LoRA adapter of every DPO golden run (PEFT format; lora_B ~ N(0, 0.05), not zero)"
    if rel.startswith("dpo/lora_final_dpo_sigmoid/"):
        return "LoRA adapter after the 5 sigmoid-DPO steps (PEFT format)"
    if rel.startswith("dpo/runs/"):
        return "5 TRL optimiser steps: hyperparameters, per-step loss/rewards/logps/grad_norm, exact batches"
    return {
        "dpo/pairs.jsonl": "the 8 training pairs (TRL conversational layout, explicit prompt)",
        "dpo/tokenization.json": "TRL DPOTrainer token ids of the training pairs and of extra tokenisation cases "
        "(layouts, BOS/EOS, boundary merge, truncation, dropped pair)",
    }[rel]


def main() -> None:
    assert (BASE_DIR / "model.safetensors").exists(), "run make_model_goldens.py first"
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    tok = load_tokenizer()

    print("== tokenisation")
    train_ids = write_tokenization(tok)
    print("== initial adapter")
    init_sd = write_lora_init()

    hyper = hyperparameters()
    runs = {}
    dpo_specs = [
        ("dpo_sigmoid", dict(loss_type=["sigmoid"])),
        ("dpo_ipo", dict(loss_type=["ipo"])),
        ("dpo_hinge", dict(loss_type=["hinge"])),
        ("dpo_sigmoid_label_smoothing_0.1", dict(loss_type=["sigmoid"], label_smoothing=0.1)),
        ("dpo_robust_label_smoothing_0.1", dict(loss_type=["robust"], label_smoothing=0.1)),
        ("dpo_sigmoid_reference_start_adapter", dict(loss_type=["sigmoid"], reference="start_adapter")),
        ("dpo_sigmoid_full", dict(loss_type=["sigmoid"], reference="full")),
        ("dpo_sigmoid_sft", dict(loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.5])),
    ]
    for name, kw in dpo_specs:
        print(f"== {name}")
        run = run_dpo(name, init_sd, tok, train_ids, **kw)
        ls = kw.get("label_smoothing", 0.0)
        reference = kw.pop("reference", "base")
        sft_weight = kw["loss_weights"][1] if "sft" in kw["loss_type"] else 0.0
        check = check_dpo_step0(run, kw["loss_type"][0], ls, reference, sft_weight)
        runs[name] = {"hyperparameters": {**hyper, "beta": BETA, "loss_type": kw["loss_type"][0],
                                          "label_smoothing": ls, "reference": reference, "sft_weight": sft_weight},
                      **run, "step0_check": check}
        for s in run["steps"]:
            print(f"   step {s['step']}: loss {s['loss']:.6f} margin {s['rewards/margins']:+.6f} "
                  f"grad_norm {s['grad_norm']:.4f}")

    sig, ls_run = runs["dpo_sigmoid"]["steps"], runs["dpo_sigmoid_label_smoothing_0.1"]["steps"]
    assert all(a["loss"] == b["loss"] for a, b in zip(sig, ls_run, strict=True)), "label_smoothing now affects sigmoid"

    from trl.experimental.cpo import CPOConfig, CPOTrainer
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    print("== orpo")
    orpo = run_reference_free("orpo", init_sd, tok, "trl.experimental.orpo.ORPOTrainer", ORPOConfig, ORPOTrainer)
    runs["orpo"] = {"hyperparameters": {**hyper, "beta": BETA}, **orpo,
                    "step0_check": check_reference_free_step0(orpo, "orpo", BETA)}
    print("== simpo")
    simpo_kw = {"loss_type": "simpo", "cpo_alpha": 0.0, "simpo_gamma": 0.5, "label_smoothing": 0.0, "beta": 2.0}
    simpo = run_reference_free("simpo", init_sd, tok, "trl.experimental.cpo.CPOTrainer", CPOConfig, CPOTrainer,
                               **simpo_kw)
    runs["simpo"] = {"hyperparameters": {**hyper, **simpo_kw}, **simpo,
                     "step0_check": check_reference_free_step0(simpo, "simpo", simpo_kw["beta"],
                                                               simpo_kw["simpo_gamma"])}
    for name in ("orpo", "simpo"):
        for s in runs[name]["steps"]:
            print(f"   {name} step {s['step']}: loss {s['loss']:.6f} margin {s['rewards/margins']:+.6f} "
                  f"grad_norm {s['grad_norm']:.4f}")
        # ORPO/CPO tokenise the older way: the same ids as DPOTrainer, plus EOS after each completion
        for t, d in zip(runs[name]["tokenized"], train_ids, strict=True):
            assert t["prompt_ids"] == d["prompt_ids"], name
            assert t["chosen_ids"] == d["prompt_ids"] + d["chosen_ids"] + [tok.eos_token_id], name
            assert t["rejected_ids"] == d["prompt_ids"] + d["rejected_ids"] + [tok.eos_token_id], name
        del runs[name]["tokenized"]  # recorded as the rule above, checked here

    for name, run in runs.items():
        compact_json(OUT / "runs" / f"{name}.json", {"name": name, "generator": SCRIPT, **run})
    write_manifest(runs)


def write_manifest(runs: dict) -> None:
    manifest_path = GOLDEN / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = {k: v for k, v in manifest["files"].items() if not k.startswith("dpo/")}
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            rel = p.relative_to(GOLDEN).as_posix()
            files[rel] = file_entry(p, describe(rel))
    new_bytes = sum(v["size"] for k, v in files.items() if k.startswith("dpo/"))
    assert new_bytes < 1_000_000, new_bytes
    manifest["files"] = dict(sorted(files.items()))
    manifest["total_bytes"] = sum(f["size"] for f in files.values())
    manifest["dpo_goldens"] = {
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
            "trl": trl.__version__,
            "datasets": datasets.__version__,
        },
        "device": "cpu, torch.set_num_threads(1), torch.use_deterministic_algorithms(True), attn_implementation=eager, "
        "f32; PYTHONHASHSEED=0",
        "seeds": {"trainer": SEED, "lora_init": LORA_INIT_SEED},
        "capture": "the real TRL trainers, trainer.train() with logging_steps=1: per-step values are "
        "trainer.state.log_history (each step's own values, nothing averaged across steps); loss_f32 is the loss "
        "tensor compute_loss returned (captured by a subclass), the batch is the collated input it received. "
        "Step 0 of every run is also recomputed by hand from full logits (step0_check)",
        "initial_adapter": f"torch.manual_seed({LORA_INIT_SEED}); get_peft_model(base, LoraConfig(**lora_config_kwargs))"
        f" (lora_A: PEFT's kaiming-uniform init); then every lora_B weight, in sorted parameter-name order, = "
        f"{LORA_B_STD} * torch.randn(shape, generator=torch.Generator().manual_seed({LORA_INIT_SEED})). lora_B is "
        "non-zero on purpose: the policy differs from the reference from step 0, so rewards and margins are "
        "non-trivial at the first step. Each run loads these exact weights into the trainer's model before training",
        "reference_model": "DPO: DPOTrainer(model=base, peft_config=LoraConfig) keeps no reference model; the "
        "reference log-probs are the same PeftModel with adapters disabled (the base); those runs use the "
        "peft_config path and then load lora_init's weights. dpo_sigmoid_reference_start_adapter passes an "
        "already-wrapped PeftModel (lora_init, is_trainable=True) instead: TRL 1.16 copies its adapter into a frozen "
        "'ref' adapter, so the reference is the initial adapter and step 0 has zero margins. dpo_sigmoid_full passes "
        "the base model without PEFT: every weight trains and the reference is TRL's frozen copy of the starting "
        "model. ORPO and SimPO have no reference model",
        "tokenization_rules": TOKENIZATION_RULES,
        "orpo_simpo_tokenization": "trl.experimental ORPOTrainer and CPOTrainer keep the older tokenize_row: "
        "maybe_extract_prompt + maybe_apply_chat_template (render to strings, prompt = common prefix of the renderings"
        "), tokenizer(text, add_special_tokens=False), BOS prepended if missing, EOS token appended to each "
        "completion if it is not already last, truncation of the completion when prompt+completion > max_length. "
        "For the 8 training pairs this equals the DPOTrainer ids with EOS (508) appended to chosen and rejected "
        "(checked by the script). Their batches hold chosen_/rejected_input_ids (prompt included) and _labels (-100 "
        "on the prompt and padding)",
        "loss_definitions": {
            "logps": "DPO: sum over completion tokens of log_softmax(logits[j-1])[ids[j]] (f32), per sequence: "
            "SUM, not mean (ld_alpha None). ORPO and SimPO: the MEAN over completion tokens (average_log_prob=True)",
            "delta": "DPO: (logp_chosen - ref_logp_chosen) - (logp_rejected - ref_logp_rejected)",
            "sigmoid": "mean over pairs of -logsigmoid(beta * delta)",
            "sigmoid_label_smoothing": "TRL 1.16's 'sigmoid' ignores label_smoothing (no conservative DPO any more): "
            "the label_smoothing=0.1 run is bit-identical to sigmoid (asserted). The DPO loss that uses it is 'robust'",
            "robust": "mean of (-(1-e)*logsigmoid(beta*delta) + e*logsigmoid(-beta*delta)) / (1 - 2e), e = "
            "label_smoothing",
            "ipo": "mean of ((logratio_chosen / n_chosen - logratio_rejected / n_rejected) - 1/(2*beta))^2 where "
            "logratio = logp - ref_logp and n = number of completion tokens (IPO is normalised by length in TRL)",
            "hinge": "mean of relu(1 - beta * delta)",
            "sft": "loss_type=['sigmoid', 'sft'], loss_weights=[1, w] (RPO; TRL 1.16 has no rpo_alpha any more): "
            "sigmoid + w * the mean over every chosen completion token of the batch of -logp",
            "rewards": "DPO: rewards/chosen = mean over pairs of beta*(logp_chosen - ref_logp_chosen), likewise "
            "rejected; margins = mean of their difference; accuracies = mean of (chosen reward > rejected reward); "
            "logps/chosen, logps/rejected = mean over pairs of the policy's summed logps",
            "orpo": "loss = nll - mean(beta * logsigmoid(log_odds)), log_odds = (c - r) - (log1p(-exp(c)) - "
            "log1p(-exp(r))) with c, r the MEAN completion logps; nll = cross-entropy MEAN over all non-padding "
            "tokens of the chosen sequences INCLUDING THE PROMPT (labels = input_ids where attention_mask, not the "
            "completion labels); rewards = beta * c, beta * r (no reference)",
            "simpo": "CPOTrainer(loss_type='simpo', cpo_alpha=0): mean of -logsigmoid(beta * ((c - r) - gamma/beta)) "
            "with c, r the MEAN completion logps; rewards = beta * c, beta * r; with cpo_alpha > 0 (TRL's default "
            "1.0) an NLL term on the chosen completion would be added (CPO-SimPO)",
        },
        "loss_types_in_trl": {
            "DPOTrainer (trl.DPOTrainer)": ["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair",
                                            "sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop",
                                            "sft", "sigmoid_norm"],
            "ORPO": "trl.experimental.orpo.ORPOTrainer (moved out of the trl namespace to trl.experimental)",
            "SimPO": "trl.experimental.cpo.CPOTrainer(loss_type='simpo'); also CPO's 'sigmoid', 'hinge', 'ipo', "
            "and 'alphapo' (= simpo with cpo_alpha 0 and the alpha reward transform)",
        },
        "runs": {name: {"loss_per_step": [s["loss"] for s in run["steps"]],
                        "grad_norm_per_step": [s["grad_norm"] for s in run["steps"]]} for name, run in runs.items()},
        "new_bytes": new_bytes,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("dpo bytes:", new_bytes)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the multiple-choice goldens: per-choice log-likelihoods as lm-evaluation-harness
computes them with transformers, and the acc / acc_norm picks.

Run from anywhere (no network, a few seconds):

    /opt/refvenv/bin/python reference/make_choice_goldens.py

It writes tests/golden/multiple_choice/choices.json, deterministically. lm-evaluation-harness
itself is not installed in the reference venv; the two functions below are transcribed from
lm-eval 0.4 (`HFLM._encode_pair` and `HFLM._loglikelihood_tokens` for a causal model, batch 1,
no truncation; `ConfigurableTask.process_results` for multiple_choice):

* trailing whitespace of the context moves to the front of the continuation;
* whole = tok(context + continuation), context_enc = tok(context), both without special tokens
  (HFLM's default for causal models: `add_bos_token=False`); continuation_enc =
  whole[len(context_enc):]; the model reads (context_enc + continuation_enc)[:-1] and the
  log-softmax at the last len(continuation_enc) positions scores continuation_enc;
* the continuation of choice c is target_delimiter + c = " " + c;
* acc = argmax(ll) == gold; acc_norm = argmax(ll / len(c)) == gold, len in characters of the
  choice without the delimiter (what lm-eval's docs call byte-length normalisation; the same for
  ASCII text); argmax takes the first of equal values.

crates/whet-eval/tests/choice_goldens.rs compares whet's values with these.
CI never runs this script: its output is committed.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "golden" / "multiple_choice" / "choices.json"

MODELS = {
    "llama": "tests/golden/models/llama",
    "base-model": "assets/base-model",
}

# (id, context, choices, gold). Written for this project.
CASES = [
    ("capital", "Question: What is the capital of France?\nAnswer:", ["Paris", "London", "Berlin", "a city in Spain"], 0),
    ("trailing_space", "Question: How many legs does a goat have?\nAnswer: ", ["four", "two", "six legs"], 0),
    ("lengths_differ", "The colour of the sky on a clear day is", ["blue", "a deep shade of green with stripes", "red"], 0),
    ("glossary", "Question: What is a gust latch on the Corvid WX-4?\nAnswer:",
     ["A gust latch holds the highest gust on screen until you press MINUS.",
      "A gust latch is the overnight low the console keeps until noon.",
      "Rime guard pulses the vane motor to shake off ice in freezing fog."], 0),
    ("punctuation_boundary", "Fill in: the cat sat on the", ["mat.", "mat!", "(mat)"], 0),
    ("unicode", "Question: Which word is French?\nAnswer:", ["café", "coffee", "kaffee"], 0),
]


def encode_pair(tok, context: str, continuation: str):
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tok.encode(context + continuation, add_special_tokens=False)
    context_enc = tok.encode(context, add_special_tokens=False)
    return context_enc, whole[len(context_enc):]


@torch.no_grad()
def loglikelihood(model, tok, context: str, continuation: str):
    context_enc, continuation_enc = encode_pair(tok, context, continuation)
    inp = torch.tensor([(context_enc + continuation_enc)[:-1]])
    logprobs = torch.log_softmax(model(inp).logits.double(), dim=-1)[0]
    n = len(continuation_enc)
    rows = logprobs[-n:]
    ll = float(rows.gather(1, torch.tensor(continuation_enc).unsqueeze(1)).sum())
    return ll, context_enc, continuation_enc


def argmax(xs):
    best = 0
    for i, x in enumerate(xs):
        if x > xs[best]:
            best = i
    return best


def main():
    torch.manual_seed(0)
    out = {
        "manifest": {
            "generator": "reference/make_choice_goldens.py",
            "command": "/opt/refvenv/bin/python reference/make_choice_goldens.py",
            "versions": {p: importlib.metadata.version(p) for p in ["torch", "transformers", "tokenizers"]}
            | {"python": platform.python_version()},
            "definitions": __doc__.split("itself is not installed")[1].split("crates/whet-eval")[0].strip(),
            "device": "cpu, float32 weights, log-softmax in float64",
        },
        "models": {},
    }
    for name, rel in MODELS.items():
        path = ROOT / rel
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, attn_implementation="eager").eval()
        cases = []
        for cid, context, choices, gold in CASES:
            lls, conts = [], []
            for c in choices:
                ll, _, cont = loglikelihood(model, tok, context, " " + c)
                lls.append(ll)
                conts.append(cont)
            norm = [ll / len(c) for ll, c in zip(lls, choices)]
            cases.append({
                "id": cid, "context": context, "choices": choices, "gold": gold,
                "context_ids": encode_pair(tok, context, " " + choices[0])[0],
                "continuation_ids": conts, "loglikelihoods": lls,
                "acc_pick": argmax(lls), "acc_norm_pick": argmax(norm),
            })
        out["models"][name] = {"path": rel, "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

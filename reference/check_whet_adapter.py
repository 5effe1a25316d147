#!/usr/bin/env python3
"""PEFT loads an adapter that whet wrote, and scores with it: the other direction of the adapter
contract (make_adapter_goldens.py checks that whet loads what PEFT writes).

    /opt/refvenv/bin/python reference/check_whet_adapter.py

Input: tests/golden/adapters/whet_saved/ — adapter_config.json + adapter_model.safetensors as
`whet train` wrote them (6 LoRA SFT steps on the golden llama; the command is in golden.json).
Output: tests/golden/adapters/whet_saved/golden.json with, for each text of the llama golden
model's golden.json, the token count and summed NLL (nats) PEFT computes with the adapter active
(same definition as make_model_goldens.py: ids with BOS, sum over j >= 1 of
-log_softmax(logits[j-1])[ids[j]]), and the adapter's config as PEFT parsed it. CI never runs it.
"""

import json
from pathlib import Path

import peft
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "tests/golden/models/llama"
ADAPTER = ROOT / "tests/golden/adapters/whet_saved"


@torch.no_grad()
def main():
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(BASE))
    base = AutoModelForCausalLM.from_pretrained(str(BASE), dtype=torch.float32, attn_implementation="eager").eval()
    model = PeftModel.from_pretrained(base, str(ADAPTER)).eval()
    cfg = model.peft_config["default"]
    texts = json.loads((BASE / "golden.json").read_text())["texts"]
    out = []
    for t in texts:
        ids = tok(t["text"])["input_ids"]
        logits = model(torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        nll = float(sum(-float(logp[j - 1, ids[j]]) for j in range(1, len(ids))))
        out.append({"text": t["text"], "n_tokens": len(ids) - 1, "nll_sum": nll, "base_nll_sum": t["nll_sum"]})
    golden = {
        "made_by": "whet train (6 LoRA SFT steps, seed 7, r=4, alpha=8, q/k/v/o/gate/up/down on tests/golden/models/llama)",
        "peft_version": peft.__version__,
        "peft_parsed": {"r": cfg.r, "lora_alpha": cfg.lora_alpha, "target_modules": sorted(cfg.target_modules),
                        "use_rslora": cfg.use_rslora, "scaling": model.base_model.model.model.layers[0].self_attn.q_proj.scaling["default"]},
        "texts": out,
    }
    (ADAPTER / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(json.dumps(golden["peft_parsed"]), [round(x["nll_sum"] - x["base_nll_sum"], 4) for x in out])


if __name__ == "__main__":
    main()

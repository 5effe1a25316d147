#!/usr/bin/env python3
"""Generate the SQuAD exact-match and token-F1 goldens (torchmetrics' port of the SQuAD v1.1 script).

Run from anywhere (no network, seconds):

    /opt/refvenv/bin/python reference/make_squad_goldens.py

(any venv with torchmetrics at the version pinned in reference/requirements.txt). It writes
tests/golden/metrics/squad.json: for hand-picked prediction/reference pairs (articles, ASCII
and non-ASCII punctuation, case, unicode, numbers, repeated tokens, whitespace), the
normalised texts (`_normalize_text`), exact match (`_compute_exact_match_score`) and F1
(`_compute_f1_score`), the functions torchmetrics' `squad` metric applies per answer.

Left out: pairs where both sides normalise to nothing. SQuAD v1.1's script gives F1 0 there
(no shared token) and whet follows it; torchmetrics follows SQuAD v2 and gives 1.

crates/whet-eval/tests/metric_goldens.rs compares whet's values with these (F1 within 1e-6:
torchmetrics computes it in float32). CI never runs this script: its output is committed.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

from torchmetrics.functional.text import squad as _  # noqa: F401  (loads the module below)
import importlib

squad = importlib.import_module("torchmetrics.functional.text.squad")

OUT = Path(__file__).resolve().parent.parent / "tests/golden/metrics/squad.json"

PAIRS = [
    ("the Denver Broncos team", "Denver Broncos"),
    ("Denver Broncos", "Denver Broncos"),
    ("The Quick,  brown fox!", "quick brown fox"),
    ("An apple a day", "apple day"),
    ("Theatre and anthem", "the atre an them"),
    ("It costs $1,000.50.", "it costs 100050"),
    ("Café — naïve façade", "cafe naive facade"),
    ("Café — naïve façade", "café — naïve façade"),
    ("don’t stop", "dont stop"),
    ("don't stop", "dont stop"),
    ("blue blue blue sky", "blue sky sky"),
    ("the the the", "a an the cat"),
    ("Hold CLOCK for three seconds, then adjust the time with PLUS and MINUS.",
     "Hold CLOCK for three seconds, then adjust the time with PLUS and MINUS."),
    ("Hold CLOCK for three seconds.", "Press CLOCK twice, then hold MINUS for three seconds."),
    ("", "something"),
    ("something", ""),
    ("A\tdrift\nwindow", "drift window"),
    ("ÉCOLE", "école"),
    ("1 2 3 4 5", "5 4 3 2 1"),
]


def main() -> None:
    cases = []
    for prediction, reference in PAIRS:
        cases.append({
            "prediction": prediction,
            "reference": reference,
            "normalized_prediction": squad._normalize_text(prediction),
            "normalized_reference": squad._normalize_text(reference),
            "exact_match": int(squad._compute_exact_match_score(prediction, reference)),
            "f1": float(squad._compute_f1_score(prediction, reference)),
        })
    manifest = {
        "generator": "reference/make_squad_goldens.py",
        "versions": {p: importlib.metadata.version(p) for p in ["torchmetrics", "torch"]},
        "what": "torchmetrics.functional.text.squad: _normalize_text, _compute_exact_match_score, _compute_f1_score (float32)",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"manifest": manifest, "cases": cases}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

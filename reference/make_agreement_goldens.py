#!/usr/bin/env python3
"""Generate the inter-reviewer agreement goldens: Cohen's and Fleiss' kappa (statsmodels).

Run from anywhere (no network, under a second):

    /opt/refvenv/bin/python reference/make_agreement_goldens.py

(any venv with statsmodels at the version pinned in reference/requirements.txt). It writes
tests/golden/agreement/kappa.json, deterministically:

* "cohen": pairs of label sequences (two reviewers on the same items; categories are the
  review page's "1", "2" and "tie") with statsmodels.stats.inter_rater.cohens_kappa on their
  contingency table (unweighted), and the observed agreement.
* "fleiss": items x reviewers label matrices with statsmodels' fleiss_kappa(method="fleiss") on
  the items x categories count table from aggregate_raters.

Cases include random ones (fixed seed), perfect agreement, agreement below chance, and a
category nobody used. crates/whet-eval/tests/agreement_goldens.rs compares whet's values with
these within 1e-9. CI never runs this script: its output is committed.
"""

from __future__ import annotations

import importlib.metadata
import json
import random
from pathlib import Path

import numpy as np
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

CATEGORIES = ["1", "2", "tie"]
OUT = Path(__file__).resolve().parent.parent / "tests/golden/agreement/kappa.json"


def cohen_case(name: str, a: list[str], b: list[str]) -> dict:
    table = np.zeros((3, 3))
    for x, y in zip(a, b):
        table[CATEGORIES.index(x), CATEGORIES.index(y)] += 1
    res = cohens_kappa(table)
    return {"name": name, "a": a, "b": b, "kappa": float(res.kappa), "observed": float(np.trace(table) / table.sum())}


def fleiss_case(name: str, labels: list[list[str]]) -> dict:
    coded = np.array([[CATEGORIES.index(x) for x in row] for row in labels])
    counts, _ = aggregate_raters(coded, n_cat=3)
    return {"name": name, "labels": labels, "kappa": float(fleiss_kappa(counts, method="fleiss"))}


def main() -> None:
    rng = random.Random(20261122)
    pick = lambda n, w: rng.choices(CATEGORIES, weights=w, k=n)  # noqa: E731
    cohen = []
    a = pick(40, [5, 3, 2])
    b = [x if rng.random() < 0.7 else rng.choice(CATEGORIES) for x in a]
    cohen.append(cohen_case("random, mostly agreeing", a, b))
    cohen.append(cohen_case("random, independent", pick(30, [1, 1, 1]), pick(30, [1, 1, 1])))
    cohen.append(cohen_case("perfect", ["1", "2", "tie", "1", "2"], ["1", "2", "tie", "1", "2"]))
    cohen.append(cohen_case("below chance", ["1", "2", "1", "2", "1", "2"], ["2", "1", "2", "1", "2", "1"]))
    cohen.append(cohen_case("no ties used", ["1", "1", "2", "2", "1", "2", "1"], ["1", "2", "2", "2", "1", "1", "1"]))

    fleiss = []
    base = pick(25, [4, 4, 2])
    fleiss.append(fleiss_case("random, three reviewers", [[x if rng.random() < 0.75 else rng.choice(CATEGORIES) for _ in range(3)] for x in base]))
    fleiss.append(fleiss_case("random, two reviewers", [[x if rng.random() < 0.6 else rng.choice(CATEGORIES) for _ in range(2)] for x in base]))
    fleiss.append(fleiss_case("independent, four reviewers", [pick(4, [1, 1, 1]) for _ in range(20)]))
    fleiss.append(fleiss_case("mostly agreeing, one dissent each", [["1", "1", "2"], ["2", "2", "2"], ["tie", "1", "1"], ["2", "2", "1"]]))

    versions = {p: importlib.metadata.version(p) for p in ["statsmodels", "numpy"]}
    manifest = {
        "generator": "reference/make_agreement_goldens.py",
        "versions": versions,
        "categories": CATEGORIES,
        "cohen": "statsmodels.stats.inter_rater.cohens_kappa(contingency table).kappa, unweighted",
        "fleiss": "statsmodels.stats.inter_rater.fleiss_kappa(aggregate_raters(labels, n_cat=3)[0], method='fleiss')",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"manifest": manifest, "cohen": cohen, "fleiss": fleiss}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

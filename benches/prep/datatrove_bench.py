"""The datatrove side of the data-prep benchmark (run by benches/prep/run.sh).

Same steps as benches/prep/whet.toml on the same file: ftfy normalisation, Gopher repetition
and quality filters (datatrove defaults = whet.toml thresholds), exact dedup on the text, MinHash
dedup (5-grams, 14 buckets x 8 hashes). Each stage runs with LocalPipelineExecutor, `tasks`
tasks and `workers` processes; the input must be split into `tasks` files for tasks > 1.

    python datatrove_bench.py INPUT_DIR WORK_DIR TASKS

Pinned: datatrove[processing]==0.10.1 (benches/prep/requirements.txt).
"""

import sys
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, ExactDedupSignature, ExactFindDedups
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.formatters import FTFYFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

inp, work, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])
workers = tasks


def run(name, pipeline, n_tasks=tasks):
    t = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=n_tasks, workers=min(workers, n_tasks), logging_dir=f"{work}/logs/{name}").run()
    dt = time.perf_counter() - t
    print(f"stage {name}: {dt:.1f} s", flush=True)
    return dt


total = 0.0
total += run("filter", [
    JsonlReader(inp, glob_pattern="*.jsonl"),
    FTFYFormatter(),
    GopherRepetitionFilter(),
    GopherQualityFilter(),
    JsonlWriter(f"{work}/filtered"),
])
exact = ExactDedupConfig(content_getter=lambda d: d.text)
total += run("exact_sig", [JsonlReader(f"{work}/filtered"), ExactDedupSignature(f"{work}/exact_sigs", config=exact)])
total += run("exact_find", [ExactFindDedups(f"{work}/exact_sigs", f"{work}/exact_dups", config=exact)], n_tasks=1)
total += run("exact_filter", [
    JsonlReader(f"{work}/filtered"),
    ExactDedupFilter(f"{work}/exact_dups", config=exact),
    JsonlWriter(f"{work}/exact_out"),
])
mh = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
total += run("minhash_sig", [JsonlReader(f"{work}/exact_out"), MinhashDedupSignature(f"{work}/mh_sigs", config=mh)])
total += run("minhash_buckets", [MinhashDedupBuckets(f"{work}/mh_sigs", f"{work}/mh_buckets", config=mh)], n_tasks=mh.num_buckets)
total += run("minhash_cluster", [MinhashDedupCluster(f"{work}/mh_buckets", f"{work}/mh_remove", config=mh)], n_tasks=1)
total += run("minhash_filter", [
    JsonlReader(f"{work}/exact_out"),
    MinhashDedupFilter(f"{work}/mh_remove"),
    JsonlWriter(f"{work}/final"),
])
print(f"datatrove total: {total:.1f} s", flush=True)

#!/usr/bin/env bash
# benches/prep/run.sh [MEGABYTES]
#
# The data-prep benchmark: generates a raw-text corpus (default 200 MB) in /tmp/bench, runs
# `whet data prep benches/prep/whet.toml` with 1 and 2 threads and datatrove (one task, one
# process) doing the same steps on the same file, and prints wall time, throughput and peak
# memory, and CPU seconds (user + sys), which stay fair when the machine is shared. DT_PYTHON is a Python with benches/prep/requirements.txt (+ orjson, spacy) installed.
set -euo pipefail
MB=${1:-200}
DT_PYTHON=${DT_PYTHON:-python3}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p whet-cli
cargo build --release -q -p whet-data --example bench_corpus
mkdir -p /tmp/bench/in
if [ ! -f /tmp/bench/corpus.jsonl ]; then
  "$CARGO_TARGET_DIR/release/examples/bench_corpus" /tmp/bench/corpus.jsonl "$MB" 1
fi
ln -sf /tmp/bench/corpus.jsonl /tmp/bench/in/part0.jsonl
bytes=$(stat -L -c %s /tmp/bench/corpus.jsonl)
docs=$(wc -l < /tmp/bench/corpus.jsonl)
report() { # name wall_s user_s sys_s maxrss_kb
  awk -v n="$1" -v s="$2" -v u="$3" -v y="$4" -v m="$5" -v b="$bytes" -v d="$docs" \
    'BEGIN { c = u + y; printf "| %s | %.1f | %.1f | %.0f | %.2f | %.2f | %.0f |\n", n, s, c, d/s, b/s/1e6, b/c/1e6, m/1024 }'
}
echo "corpus: $docs documents, $bytes bytes"
echo "| run | wall s | CPU s | docs/s (wall) | MB/s (wall) | MB per CPU-s | peak MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for t in 1 2; do
  /usr/bin/time -o /tmp/bench/time.txt -f "%e %U %S %M" "$CARGO_TARGET_DIR/release/whet" data prep benches/prep/whet.toml --threads "$t" > /tmp/bench/whet-$t.log
  read -r s u y m < /tmp/bench/time.txt
  report "whet, $t thread(s)" "$s" "$u" "$y" "$m"
done
rm -rf /tmp/bench/dt
if [ "${SKIP_DATATROVE:-0}" != 1 ]; then
  /usr/bin/time -o /tmp/bench/time.txt -f "%e %U %S %M" "$DT_PYTHON" benches/prep/datatrove_bench.py /tmp/bench/in /tmp/bench/dt 1 > /tmp/bench/datatrove.log 2>&1
  read -r s u y m < /tmp/bench/time.txt
  report "datatrove 0.10.1, 1 task" "$s" "$u" "$y" "$m"
fi

//! The dataset card (`dataset_card.md`): sources and provenance with licence fields and file
//! fingerprints, the steps that ran with their thresholds, the counts, the output format and
//! the known limitations of each step — what a reader needs to trust or question the data.

use std::fmt::Write as _;
use std::io::Read;

use serde::Serialize;

use super::config::PrepConfig;
use super::report::Stats;
use crate::{Error, Result};

/// A source file's size and xxh3-64 content hash, for the run record and the card.
#[derive(Debug, Clone, Serialize)]
pub struct SourceFingerprint {
    pub name: String,
    pub path: String,
    pub bytes: u64,
    pub xxh3_64: String,
}

pub fn source_fingerprints(cfg: &PrepConfig) -> Result<Vec<SourceFingerprint>> {
    cfg.sources
        .iter()
        .map(|s| {
            let io = |source| Error::Io { path: s.path.clone(), err: source };
            let mut f = std::fs::File::open(&s.path).map_err(io)?;
            let mut h = xxhash_rust::xxh3::Xxh3Default::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut bytes = 0u64;
            loop {
                let n = f.read(&mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                bytes += n as u64;
                h.update(&buf[..n]);
            }
            Ok(SourceFingerprint {
                name: s.name.clone(),
                path: s.path.display().to_string(),
                bytes,
                xxh3_64: format!("{:016x}", h.digest()),
            })
        })
        .collect()
}

fn section<T: Serialize>(s: &mut String, title: &str, value: &Option<T>, limitation: &str) {
    match value {
        None => {
            let _ = writeln!(s, "- **{title}**: off");
        }
        Some(v) => {
            let body = toml::to_string(v).unwrap_or_default();
            let inline = body.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join("; ");
            let _ = writeln!(s, "- **{title}**: `{}` — limitation: {limitation}", inline.replace('`', "'"));
        }
    }
}

/// The card's Markdown.
pub fn dataset_card(cfg: &PrepConfig, stats: &Stats, sources: &[SourceFingerprint]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Dataset card\n");
    let _ = writeln!(
        s,
        "Prepared by `whet data prep` (whet {}), seed {}. {} input records → {} kept ({} dropped).\n",
        env!("CARGO_PKG_VERSION"),
        cfg.seed,
        stats.input,
        stats.kept,
        stats.dropped_total()
    );
    let _ = writeln!(s, "## Sources and provenance\n\n| name | file | records | licence | origin | notes | bytes | xxh3-64 |\n|---|---|---:|---|---|---|---:|---|");
    for (src, fp) in cfg.sources.iter().zip(sources) {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {} | {} | `{}` |",
            src.name,
            fp.path,
            stats.input_by_source.get(&src.name).copied().unwrap_or(0),
            src.license.as_deref().unwrap_or("**not stated**"),
            src.origin.as_deref().unwrap_or("—"),
            src.notes.as_deref().unwrap_or("—"),
            fp.bytes,
            fp.xxh3_64
        );
    }
    if cfg.sources.iter().any(|s| s.license.is_none()) {
        let _ = writeln!(s, "\n**Warning:** some sources state no licence; check the right to train on them before use.");
    }
    let _ = writeln!(s, "\n## Steps and thresholds\n");
    let _ = writeln!(s, "- **on_error**: {:?}", cfg.on_error);
    section(&mut s, "normalize", &Some(&cfg.normalize), "mojibake repair covers UTF-8 read as Windows-1252 only; HTML is detected by known tags");
    section(&mut s, "pii", &cfg.pii, "pattern-based: names, postal addresses and dates of birth are not detected");
    section(&mut s, "structure", &Some(&cfg.structure), "chat templates are not rendered during prep");
    section(&mut s, "language", &cfg.language, "confidence is low on short texts");
    section(&mut s, "quality", &cfg.quality, "heuristics tuned for web prose; code and tables can fail them");
    section(&mut s, "policy", &cfg.policy, "keyword and pattern screen, not a classifier");
    section(&mut s, "decontamination", &cfg.decontamination, "eval items shorter than the n-gram are not matched");
    section(&mut s, "exact_dedup", &cfg.exact_dedup, "case and whitespace only are normalised for the key");
    section(&mut s, "near_dedup", &cfg.near_dedup, "LSH can miss pairs near the threshold (see the S-curve); greedy clusters, first record kept");
    section(&mut s, "bias", &cfg.bias, "counts term mentions; does not measure sentiment or context");
    section(&mut s, "split", &Some(&cfg.split), "hash splits are near, not exact, ratios unless stratified");
    let _ = writeln!(s, "\n## Counts\n\n| rule | dropped |\n|---|---:|");
    for rule in super::report::RULES {
        if let Some(n) = stats.dropped.get(rule) {
            let _ = writeln!(s, "| {rule} | {n} |");
        }
    }
    let _ = writeln!(s, "\n| split | records |\n|---|---:|");
    for (k, v) in &stats.splits {
        let _ = writeln!(s, "| {k} | {} |", v.records);
    }
    let _ = writeln!(s, "\nPII found by type: {:?}; redacted: {:?}.", stats.pii_found, stats.pii_redacted);
    let _ = writeln!(s, "\n## Format\n\nChat-like records (OpenAI messages, ShareGPT, Alpaca) are written as OpenAI `messages`; raw text as `text`; preference pairs as `prompt`/`chosen`/`rejected`. Other fields of the input records are kept. `rejects.jsonl` lists every removed record with its rule and reason; `report.md` has the full audit.");
    s
}

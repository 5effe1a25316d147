//! `whet data inspect FILE`: a quick profile of one dataset file — formats, record and
//! malformed-line counts, lengths, exact and near duplicates, PII hits by type, language mix —
//! without writing anything. It uses the prep steps with their default settings (near-dups:
//! 5-grams, 14×8 bands, Jaccard ≥ 0.8; PII: all types).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::config::{DedupKey, Pii, PiiAction};
use super::dedup::{exact_keys, ExactIndex, Loc, NearIndex, NearKeys};
use super::language::LanguageFilter;
use super::minhash::MinHasher;
use super::pii::PiiDetector;
use crate::formats::{parse, Format, Parsed};
use crate::records::{Payload, RowReader};
use crate::Result;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Profile {
    pub file: String,
    pub bytes: u64,
    pub rows: u64,
    pub records: u64,
    pub formats: BTreeMap<String, u64>,
    /// First few malformed rows as `line: message`.
    pub malformed: Vec<String>,
    pub malformed_count: u64,
    pub chars_min: u64,
    pub chars_mean: f64,
    pub chars_p50: u64,
    pub chars_p95: u64,
    pub chars_max: u64,
    pub exact_duplicates: u64,
    pub near_duplicates: u64,
    pub pii: BTreeMap<String, u64>,
    pub languages: BTreeMap<String, u64>,
}

struct One {
    parsed: std::result::Result<Parsed, String>,
    line: u64,
}

/// Profiles `path` (any supported container and format).
pub fn inspect(path: &Path) -> Result<Profile> {
    let mut p = Profile { file: path.display().to_string(), bytes: crate::records::file_len(path)?, ..Default::default() };
    let pii = PiiDetector::new(&Pii { default_action: PiiAction::Keep, actions: BTreeMap::new() })?;
    let hasher = MinHasher::new(5, 14, 8, 42);
    let mut exact = ExactIndex::default();
    let mut near = NearIndex::new(14, 0.8);
    let mut lengths = Vec::new();
    let mut rows = Vec::new();
    let mut flush = |rows: Vec<One>, p: &mut Profile, lengths: &mut Vec<u64>| {
        let facts: Vec<_> = rows
            .into_par_iter()
            .map(|o| match o.parsed {
                Err(e) => (o.line, Err(e)),
                Ok(parsed) => {
                    let text = parsed.record.full_text();
                    let hits = pii.find(&text);
                    let lang = LanguageFilter::detect(&text).code;
                    let keys = exact_keys(&parsed.record, &[DedupKey::Both]);
                    let nk = NearKeys::of(&hasher, &text);
                    (o.line, Ok((parsed.format, text.chars().count() as u64, hits, lang, keys, nk)))
                }
            })
            .collect();
        for (line, f) in facts {
            match f {
                Err(e) => {
                    p.malformed_count += 1;
                    if p.malformed.len() < 5 {
                        p.malformed.push(format!("line {line}: {e}"));
                    }
                }
                Ok((format, chars, hits, lang, keys, nk)) => {
                    p.records += 1;
                    *p.formats.entry(format.name().into()).or_default() += 1;
                    lengths.push(chars);
                    for h in hits {
                        *p.pii.entry(h.kind.key().into()).or_default() += 1;
                    }
                    *p.languages.entry(lang.unwrap_or("unknown").into()).or_default() += 1;
                    let loc = Loc { source: 0, line };
                    if exact.check_and_insert(&keys, loc).is_some() {
                        p.exact_duplicates += 1;
                    } else if near.check_and_insert(nk, loc).is_some() {
                        p.near_duplicates += 1;
                    }
                }
            }
        }
    };
    for row in RowReader::open(path)? {
        let row = row?;
        p.rows += 1;
        let parsed = match row.payload {
            Payload::Object(o) => parse(Format::Auto, o),
            Payload::Malformed { message, .. } => Err(message),
        };
        rows.push(One { parsed, line: row.line });
        if rows.len() == 4096 {
            flush(std::mem::take(&mut rows), &mut p, &mut lengths);
        }
    }
    flush(rows, &mut p, &mut lengths);
    lengths.sort_unstable();
    if let (Some(first), Some(last)) = (lengths.first(), lengths.last()) {
        p.chars_min = *first;
        p.chars_max = *last;
        p.chars_mean = lengths.iter().sum::<u64>() as f64 / lengths.len() as f64;
        p.chars_p50 = lengths[lengths.len() / 2];
        p.chars_p95 = lengths[(lengths.len() * 95 / 100).min(lengths.len() - 1)];
    }
    Ok(p)
}

impl Profile {
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{} ({} bytes)", self.file, self.bytes);
        let _ = writeln!(s, "records: {} of {} rows ({} malformed)", self.records, self.rows, self.malformed_count);
        for m in &self.malformed {
            let _ = writeln!(s, "  malformed {m}");
        }
        let _ = writeln!(s, "formats: {}", fmt_map(&self.formats));
        let _ = writeln!(
            s,
            "characters per record: min {} / p50 {} / mean {:.0} / p95 {} / max {}",
            self.chars_min, self.chars_p50, self.chars_mean, self.chars_p95, self.chars_max
        );
        let _ = writeln!(s, "duplicates: {} exact, {} near (Jaccard ≥ 0.8)", self.exact_duplicates, self.near_duplicates);
        let _ = writeln!(s, "PII hits: {}", if self.pii.is_empty() { "none".into() } else { fmt_map(&self.pii) });
        let _ = writeln!(s, "languages: {}", fmt_map(&self.languages));
        s
    }
}

fn fmt_map(m: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

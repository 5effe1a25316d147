//! Exact and near-duplicate removal, first occurrence wins.
//!
//! Both indexes are fed records in input order (global record index), so the record kept from
//! each group of duplicates is always the earliest one, whatever the thread count or sharding.
//!
//! - Exact: the key text is lower-cased with whitespace collapsed, hashed with xxh3-128; one
//!   table per configured key (`prompt`, `response`, `both`). An empty prompt (raw text) has no
//!   prompt key.
//! - Near: MinHash LSH (see `minhash.rs`). A record is a near-duplicate when an earlier *kept*
//!   record shares a band and the true Jaccard similarity of their shingle sets reaches the
//!   threshold; otherwise it is kept and indexed. This is greedy clustering around the first
//!   member: a record close to a removed record but not to the kept one stays (no transitive
//!   chaining), which is what one wants for "keep one representative per cluster" without
//!   merging distinct documents through chains. Memory: the shingle set (4 bytes per shingle)
//!   and band hashes of every kept record.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use super::config::DedupKey;
use super::minhash::{jaccard, MinHasher};
use crate::formats::Record;

/// Where a record came from, for "duplicate of ..." reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loc {
    pub source: u32,
    pub line: u64,
}

fn key_text(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The exact-dedup hashes of a record for the configured keys.
pub fn exact_keys(record: &Record, keys: &[DedupKey]) -> Vec<(DedupKey, u128)> {
    keys.iter()
        .filter_map(|k| {
            let text = match k {
                DedupKey::Prompt => record.prompt_text(),
                DedupKey::Response => record.response_text(),
                DedupKey::Both => format!("{}\u{0}{}", record.prompt_text(), record.response_text()),
            };
            let t = key_text(&text);
            (!t.is_empty() && t != "\u{0}").then(|| (*k, xxh3_128(t.as_bytes())))
        })
        .collect()
}

pub fn key_name(k: DedupKey) -> &'static str {
    match k {
        DedupKey::Prompt => "prompt",
        DedupKey::Response => "response",
        DedupKey::Both => "prompt+response",
    }
}

#[derive(Default)]
pub struct ExactIndex {
    seen: HashMap<(DedupKey, u128), Loc>,
}

impl ExactIndex {
    /// The first record with one of these keys, or `None` (and the keys are recorded).
    pub fn check_and_insert(&mut self, keys: &[(DedupKey, u128)], loc: Loc) -> Option<(DedupKey, Loc)> {
        for k in keys {
            if let Some(first) = self.seen.get(k) {
                return Some((k.0, *first));
            }
        }
        for k in keys {
            self.seen.insert(*k, loc);
        }
        None
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// What near-dedup needs of one record; computed in parallel before the sequential index.
#[derive(Debug, Clone)]
pub struct NearKeys {
    pub shingles: Vec<u32>,
    pub bands: Vec<u64>,
}

impl NearKeys {
    pub fn of(hasher: &MinHasher, text: &str) -> Self {
        let shingles = hasher.shingles(text);
        let bands = if shingles.is_empty() {
            Vec::new()
        } else {
            hasher.band_hashes(&hasher.signature(&shingles))
        };
        NearKeys { shingles, bands }
    }
}

pub struct NearIndex {
    threshold: f64,
    /// Per band: band hash → ids of kept records.
    buckets: Vec<HashMap<u64, Vec<u32>>>,
    kept: Vec<(Vec<u32>, Loc)>,
}

impl NearIndex {
    pub fn new(bands: usize, threshold: f64) -> Self {
        NearIndex {
            threshold,
            buckets: (0..bands).map(|_| HashMap::new()).collect(),
            kept: Vec::new(),
        }
    }

    /// The earliest kept record this one nearly duplicates (with the Jaccard similarity), or
    /// `None`, in which case the record is indexed as kept.
    pub fn check_and_insert(&mut self, keys: NearKeys, loc: Loc) -> Option<(Loc, f64)> {
        if keys.bands.is_empty() {
            return None;
        }
        let mut cands: Vec<u32> = keys
            .bands
            .iter()
            .zip(&self.buckets)
            .filter_map(|(h, b)| b.get(h))
            .flatten()
            .copied()
            .collect();
        cands.sort_unstable();
        cands.dedup();
        for id in cands {
            let (sh, first) = &self.kept[id as usize];
            let j = jaccard(sh, &keys.shingles);
            if j >= self.threshold {
                return Some((*first, j));
            }
        }
        let id = self.kept.len() as u32;
        for (h, b) in keys.bands.iter().zip(&mut self.buckets) {
            b.entry(*h).or_default().push(id);
        }
        self.kept.push((keys.shingles, loc));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Record {
        Record::Text { text: t.into() }
    }

    #[test]
    fn exact_dedup_ignores_case_and_whitespace_and_keeps_the_first() {
        let mut idx = ExactIndex::default();
        let k1 = exact_keys(&text("Hello   World"), &[DedupKey::Both]);
        let k2 = exact_keys(&text("hello world"), &[DedupKey::Both]);
        let l1 = Loc { source: 0, line: 1 };
        assert_eq!(idx.check_and_insert(&k1, l1), None);
        assert_eq!(idx.check_and_insert(&k2, Loc { source: 0, line: 2 }), Some((DedupKey::Both, l1)));
    }

    #[test]
    fn raw_text_has_no_prompt_key() {
        assert!(exact_keys(&text("abc"), &[DedupKey::Prompt]).is_empty());
    }

    #[test]
    fn near_duplicates_above_threshold_are_found_and_distinct_texts_are_not() {
        let h = MinHasher::new(3, 16, 4, 1);
        let mut idx = NearIndex::new(16, 0.7);
        let base: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
        let a = base.join(" ");
        let mut b_words = base.clone();
        b_words[30] = "changed".into(); // 3 of 58 shingles differ → J = 55/61 ≈ 0.90
        let b = b_words.join(" ");
        let c: String = (0..60).map(|i| format!("x{i}")).collect::<Vec<_>>().join(" ");
        let la = Loc { source: 0, line: 1 };
        assert!(idx.check_and_insert(NearKeys::of(&h, &a), la).is_none());
        let hit = idx.check_and_insert(NearKeys::of(&h, &b), Loc { source: 0, line: 2 }).expect("near dup");
        assert_eq!(hit.0, la);
        assert!(hit.1 > 0.85 && hit.1 < 0.95, "{}", hit.1);
        assert!(idx.check_and_insert(NearKeys::of(&h, &c), Loc { source: 0, line: 3 }).is_none());
    }
}

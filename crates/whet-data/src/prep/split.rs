//! Train/valid/test splits by stable hash, optionally stratified, and k-fold assignment.
//!
//! Each kept record has a seeded xxh3-64 hash of its output line. Without stratification a
//! record goes to train when `hash / 2^64 < train`, to valid when below `train + valid`, else to
//! test: its split depends only on its content and the seed, so adding records never moves
//! others. With `stratify_by`, records are grouped by that field's value and, inside each
//! group, ordered by hash; the first `round(n·test)` go to test, the next `round(n·valid)` to
//! valid, the rest to train — exact ratios per stratum, still deterministic for a seed.
//! k-fold: a train record's fold is `rehash(hash) mod k`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::config::Split;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitName {
    Train,
    Valid,
    Test,
}

impl SplitName {
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Valid, SplitName::Test];

    pub fn name(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Valid => "valid",
            SplitName::Test => "test",
        }
    }
}

pub fn stable_hash(line: &[u8], seed: u64) -> u64 {
    xxh3_64_with_seed(line, seed)
}

/// Split of one record by its hash alone.
pub fn by_hash(hash: u64, cfg: &Split) -> SplitName {
    let u = (hash >> 11) as f64 / (1u64 << 53) as f64;
    if u < cfg.train {
        SplitName::Train
    } else if u < cfg.train + cfg.valid {
        SplitName::Valid
    } else {
        SplitName::Test
    }
}

/// Splits for records given as (stratum, hash); exact ratios inside each stratum.
pub fn stratified(items: &[(u32, u64)], cfg: &Split) -> Vec<SplitName> {
    let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, (s, _)) in items.iter().enumerate() {
        groups.entry(*s).or_default().push(i);
    }
    let mut out = vec![SplitName::Train; items.len()];
    for idxs in groups.values_mut() {
        idxs.sort_by_key(|&i| (items[i].1, i));
        let n = idxs.len() as f64;
        let n_test = (n * cfg.test).round() as usize;
        let n_valid = (n * cfg.valid).round() as usize;
        for (rank, &i) in idxs.iter().enumerate() {
            out[i] = if rank < n_test {
                SplitName::Test
            } else if rank < n_test + n_valid {
                SplitName::Valid
            } else {
                SplitName::Train
            };
        }
    }
    out
}

/// Fold of a train record (k ≥ 2).
pub fn fold(hash: u64, k: usize) -> usize {
    (xxh3_64_with_seed(&hash.to_le_bytes(), 0x666f_6c64) % k as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_split_ratios_are_close_to_the_config() {
        let cfg = Split { train: 0.8, valid: 0.1, test: 0.1, ..Default::default() };
        let mut counts = [0usize; 3];
        for i in 0..20_000u64 {
            let s = by_hash(stable_hash(&i.to_le_bytes(), 42), &cfg);
            counts[s as usize] += 1;
        }
        assert!((counts[0] as f64 / 20_000.0 - 0.8).abs() < 0.015, "{counts:?}");
        assert!((counts[1] as f64 / 20_000.0 - 0.1).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn stratified_split_has_exact_ratios_per_stratum() {
        let cfg = Split { train: 0.6, valid: 0.2, test: 0.2, ..Default::default() };
        let items: Vec<(u32, u64)> = (0..50u64).map(|i| ((i % 2) as u32, stable_hash(&i.to_le_bytes(), 1))).collect();
        let s = stratified(&items, &cfg);
        for stratum in 0..2u32 {
            let of = |n: SplitName| items.iter().zip(&s).filter(|((st, _), sp)| *st == stratum && **sp == n).count();
            assert_eq!((of(SplitName::Train), of(SplitName::Valid), of(SplitName::Test)), (15, 5, 5));
        }
    }

    #[test]
    fn a_different_seed_moves_records() {
        let cfg = Split::default();
        let moved = (0..1000u64)
            .filter(|i| by_hash(stable_hash(&i.to_le_bytes(), 1), &cfg) != by_hash(stable_hash(&i.to_le_bytes(), 2), &cfg))
            .count();
        assert!(moved > 50, "{moved}");
    }
}

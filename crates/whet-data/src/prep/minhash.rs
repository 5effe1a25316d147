//! MinHash signatures and LSH banding for near-duplicate detection (Broder 1997; the banding of
//! Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*, ch. 3).
//!
//! A document is the set of its word n-grams ("shingles"): words are lower-cased runs of
//! letters and digits; each n-gram is hashed with xxh3 to 32 bits. The signature has
//! `bands × rows` values; value i is the minimum over shingles of `h_i(x) = (a_i·x + b_i) mod
//! 2^64 >> 32` with random 64-bit `a_i` (odd) and `b_i` drawn from the seed — multiply-add-shift
//! hashing, 2-universal for 32-bit keys, so P(minimum agrees) equals the Jaccard similarity.
//! Two documents become candidates when all `rows` values of any band agree, which happens with
//! probability `1 - (1 - s^rows)^bands` for Jaccard similarity `s` (the S-curve,
//! [`candidate_probability`]); candidates are then verified with the true Jaccard similarity of
//! their shingle sets.
//!
//! Written here rather than taken from a crate: the available crates (`gaoya`, `probminhash`)
//! fix their own shingling and hashing, and whet needs signatures that are a pure function of
//! (text, seed) so that sharded runs and merges agree bit for bit; the code is ~100 lines.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Seeded MinHash over word n-grams.
#[derive(Debug, Clone)]
pub struct MinHasher {
    pub ngram: usize,
    pub bands: usize,
    pub rows: usize,
    a: Vec<u64>,
    b: Vec<u64>,
}

/// SplitMix64: a tiny, well-mixed generator for the permutation parameters.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl MinHasher {
    pub fn new(ngram: usize, bands: usize, rows: usize, seed: u64) -> Self {
        let mut state = seed ^ 0x6D69_6E68_6173_6821;
        let k = bands * rows;
        let mut a = Vec::with_capacity(k);
        let mut b = Vec::with_capacity(k);
        for _ in 0..k {
            a.push(splitmix64(&mut state) | 1);
            b.push(splitmix64(&mut state));
        }
        MinHasher { ngram, bands, rows, a, b }
    }

    /// Sorted, de-duplicated 32-bit hashes of the text's word n-grams. A text with fewer than
    /// `ngram` words is one shingle; an empty text has none.
    pub fn shingles(&self, text: &str) -> Vec<u32> {
        shingles(text, self.ngram)
    }

    /// The signature of a shingle set (`bands × rows` values; all `u32::MAX` when empty).
    pub fn signature(&self, shingles: &[u32]) -> Vec<u32> {
        let mut sig = vec![u32::MAX; self.a.len()];
        for &x in shingles {
            let x = u64::from(x);
            for ((s, a), b) in sig.iter_mut().zip(&self.a).zip(&self.b) {
                let h = (a.wrapping_mul(x).wrapping_add(*b) >> 32) as u32;
                if h < *s {
                    *s = h;
                }
            }
        }
        sig
    }

    /// One hash per band of the signature.
    pub fn band_hashes(&self, sig: &[u32]) -> Vec<u64> {
        sig.chunks(self.rows)
            .enumerate()
            .map(|(band, rows)| {
                let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
                xxh3_64_with_seed(&bytes, band as u64)
            })
            .collect()
    }

    /// Whether two signatures agree on every row of at least one band (LSH candidates).
    pub fn is_candidate(&self, a: &[u32], b: &[u32]) -> bool {
        a.chunks(self.rows).zip(b.chunks(self.rows)).any(|(x, y)| x == y)
    }
}

/// See [`MinHasher::shingles`].
pub fn shingles(text: &str, ngram: usize) -> Vec<u32> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    let n = ngram.min(words.len()).max(1);
    let mut buf = String::new();
    let mut out: Vec<u32> = words
        .windows(n)
        .map(|g| {
            buf.clear();
            for (i, w) in g.iter().enumerate() {
                if i > 0 {
                    buf.push(' ');
                }
                buf.push_str(w);
            }
            (xxh3_64(buf.as_bytes()) >> 32) as u32
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Jaccard similarity of two sorted, de-duplicated sets.
pub fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// The LSH S-curve: probability that two sets with Jaccard similarity `s` share a band.
pub fn candidate_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sets of `m` elements sharing `k`: Jaccard = k / (2m - k).
    fn pair(m: u32, k: u32, salt: u32) -> (Vec<u32>, Vec<u32>) {
        // Elements are hashed ids, as real shingles are.
        let el = |i: u32| (xxh3_64(&[salt.to_le_bytes(), i.to_le_bytes()].concat()) >> 32) as u32;
        let mut a: Vec<u32> = (0..m).map(el).collect();
        let mut b: Vec<u32> = (0..m).map(|i| if i < k { el(i) } else { el(m + i) }).collect();
        a.sort_unstable();
        b.sort_unstable();
        (a, b)
    }

    #[test]
    fn identical_texts_have_identical_signatures_and_jaccard_one() {
        let h = MinHasher::new(3, 4, 4, 1);
        let s1 = h.shingles("The quick brown fox jumps over the lazy dog");
        let s2 = h.shingles("the QUICK brown fox, jumps over the lazy dog!");
        assert_eq!(s1, s2);
        assert_eq!(jaccard(&s1, &s2), 1.0);
        assert_eq!(h.signature(&s1), h.signature(&s2));
    }

    #[test]
    fn jaccard_matches_hand_count() {
        assert!((jaccard(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-12);
        let (a, b) = pair(100, 50, 3);
        assert!((jaccard(&a, &b) - 50.0 / 150.0).abs() < 0.01);
    }

    #[test]
    fn signature_agreement_estimates_jaccard() {
        let h = MinHasher::new(5, 32, 8, 7); // 256 permutations
        let (a, b) = pair(400, 300, 11); // J = 300/500 = 0.6
        let (sa, sb) = (h.signature(&a), h.signature(&b));
        let agree = sa.iter().zip(&sb).filter(|(x, y)| x == y).count() as f64 / sa.len() as f64;
        // standard error sqrt(0.6*0.4/256) ≈ 0.031; allow 4 sigma.
        assert!((agree - 0.6).abs() < 0.125, "agreement {agree}");
    }

    #[test]
    fn measured_candidate_rates_follow_the_lsh_s_curve() {
        let (bands, rows) = (14usize, 8usize);
        let h = MinHasher::new(5, bands, rows, 42);
        let m = 200u32;
        let trials = 300usize;
        for &s in &[0.3, 0.5, 0.65, 0.75, 0.85, 0.95] {
            // k shared of m each: s = k / (2m - k) → k = 2ms / (1 + s)
            let k = ((2.0 * f64::from(m) * s) / (1.0 + s)).round() as u32;
            let mut hits = 0usize;
            let mut s_sum = 0.0;
            for t in 0..trials {
                let (a, b) = pair(m, k, (t as u32) * 7919 + k);
                s_sum += jaccard(&a, &b);
                if h.is_candidate(&h.signature(&a), &h.signature(&b)) {
                    hits += 1;
                }
            }
            let measured = hits as f64 / trials as f64;
            let exact_s = s_sum / trials as f64;
            let p = candidate_probability(exact_s, bands, rows);
            let sigma = (p * (1.0 - p) / trials as f64).sqrt();
            // FN rate = 1 - measured vs 1 - p; FP rate (below threshold) = measured vs p.
            assert!(
                (measured - p).abs() <= 4.0 * sigma + 0.02,
                "s={exact_s:.3}: measured candidate rate {measured:.3}, S-curve {p:.3} (σ {sigma:.3})"
            );
        }
    }

    #[test]
    fn planted_text_pairs_have_false_negative_and_positive_rates_of_the_s_curve() {
        // Text pairs of distinct words with unigram shingles: pair i shares k of m words, so
        // its Jaccard similarity is exactly k / (2m - k). Candidates are decided through band
        // hashes, as NearIndex does.
        let (bands, rows, threshold) = (14usize, 8usize, 0.8);
        let h = MinHasher::new(1, bands, rows, 99);
        let m = 100usize;
        let trials = 250usize;
        let mut word = 0usize;
        let mut fresh = |n: usize| -> Vec<String> {
            word += n;
            (word - n..word).map(|i| format!("w{i}")).collect()
        };
        for &k in &[40usize, 60, 75, 85, 95] {
            let s = k as f64 / (2 * m - k) as f64;
            let mut candidates = 0usize;
            for _ in 0..trials {
                let shared = fresh(k);
                let a = [shared.clone(), fresh(m - k)].concat().join(" ");
                let b = [shared, fresh(m - k)].concat().join(" ");
                let (sa, sb) = (h.shingles(&a), h.shingles(&b));
                assert!((jaccard(&sa, &sb) - s).abs() < 1e-9);
                let (ba, bb) = (h.band_hashes(&h.signature(&sa)), h.band_hashes(&h.signature(&sb)));
                if ba.iter().zip(&bb).any(|(x, y)| x == y) {
                    candidates += 1;
                }
            }
            let p = candidate_probability(s, bands, rows);
            let sigma = (p * (1.0 - p) / trials as f64).sqrt();
            let measured = candidates as f64 / trials as f64;
            // Above the threshold a miss is a false negative, below it a hit is a false positive
            // (before the Jaccard check removes it): both rates follow the S-curve.
            let (rate, expected, kind) = if s >= threshold {
                (1.0 - measured, 1.0 - p, "false-negative")
            } else {
                (measured, p, "false-positive")
            };
            assert!(
                (rate - expected).abs() <= 4.0 * sigma + 0.02,
                "s = {s:.3}: {kind} rate {rate:.3}, S-curve {expected:.3} (σ {sigma:.3})"
            );
        }
    }

    #[test]
    fn band_hashes_agree_exactly_when_bands_agree() {
        let h = MinHasher::new(2, 4, 2, 3);
        let a = h.signature(&h.shingles("one two three four five six"));
        let b = h.signature(&h.shingles("one two three four five six"));
        assert_eq!(h.band_hashes(&a), h.band_hashes(&b));
        assert_eq!(h.band_hashes(&a).len(), 4);
    }

    #[test]
    fn s_curve_values_are_hand_checked() {
        // b=20, r=5 at s=0.5: 1-(1-1/32)^20 ≈ 0.4700
        assert!((candidate_probability(0.5, 20, 5) - 0.470_050_7).abs() < 1e-6);
    }
}

//! BLEU as sacrebleu 2.x computes it (`sacrebleu/metrics/bleu.py`): `13a` tokenisation, n-grams
//! up to order 4 clipped by the maximum count in any one reference, the closest reference length
//! (the shorter on ties) for the brevity penalty, statistics summed over the corpus before the
//! score is taken, and sacrebleu's smoothing methods. Scores and precisions are on sacrebleu's
//! 0-100 scale.
//!
//! Defaults: [`BleuOptions::corpus`] is `BLEU()` (`corpus_bleu`): smoothing `exp`, no effective
//! order. [`BleuOptions::sentence`] is what `sentence_bleu` uses: the same with
//! `effective_order=True`, so a short sentence is not zeroed by its missing 4-grams.
//!
//! Small enough to write here: the `bleuscore` crate follows Hugging Face `evaluate`'s BLEU (no
//! `exp` smoothing, a different brevity reference), not sacrebleu's. Not supported: sacrebleu's
//! other tokenizers (`intl`, `zh`, `ja-mecab`, `spm`, ...).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::{python_whitespace, tokenizer_13a::tokenize_13a};

/// sacrebleu's `smooth_method` (with `smooth_value` where it takes one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smoothing {
    /// No smoothing: any order without a match makes the score 0.
    None,
    /// An order without a match gets precision `value / total` (sacrebleu's default value: 0.1).
    Floor(f64),
    /// `value` added to the matches and totals of orders 2 and up (sacrebleu's default: 1).
    AddK(f64),
    /// The k-th order without a match gets precision `1 / (2^k * total)` (NIST, mteval-v13a).
    Exp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BleuOptions {
    pub smoothing: Smoothing,
    /// Average only over the orders up to the longest one the hypothesis has.
    pub effective_order: bool,
    pub lowercase: bool,
    pub max_ngram_order: usize,
}

impl BleuOptions {
    /// sacrebleu's `BLEU()` / `corpus_bleu` defaults.
    pub fn corpus() -> BleuOptions {
        BleuOptions { smoothing: Smoothing::Exp, effective_order: false, lowercase: false, max_ngram_order: 4 }
    }

    /// sacrebleu's `sentence_bleu` defaults.
    pub fn sentence() -> BleuOptions {
        BleuOptions { effective_order: true, ..BleuOptions::corpus() }
    }
}

/// A BLEU score with the statistics it was computed from (sacrebleu's `BLEUScore`).
#[derive(Debug, Clone, PartialEq)]
pub struct BleuScore {
    /// 0-100.
    pub score: f64,
    /// Clipped n-gram matches per order.
    pub counts: Vec<usize>,
    /// Hypothesis n-grams per order.
    pub totals: Vec<usize>,
    /// Per-order precisions, 0-100, after smoothing.
    pub precisions: Vec<f64>,
    pub brevity_penalty: f64,
    pub sys_len: usize,
    pub ref_len: usize,
}

/// BLEU of a whole corpus: `references[i]` are the references of `hypotheses[i]` (any number,
/// at least one each).
pub fn corpus_bleu<H, R, Refs>(hypotheses: &[H], references: &[Refs], options: &BleuOptions) -> Result<BleuScore>
where
    H: AsRef<str>,
    R: AsRef<str>,
    Refs: AsRef<[R]>,
{
    validate(hypotheses.len(), references.len(), options)?;
    let order = options.max_ngram_order;
    let mut total = Stats { sys_len: 0, ref_len: 0, correct: vec![0; order], total: vec![0; order] };
    for (i, (hyp, refs)) in hypotheses.iter().zip(references).enumerate() {
        let s = segment_stats(hyp.as_ref(), refs.as_ref(), options)
            .ok_or(Error::NoReferences { metric: "BLEU", index: i })?;
        total.add(&s);
    }
    Ok(compute_bleu(&total, options))
}

/// BLEU of one hypothesis; use [`BleuOptions::sentence`] for sacrebleu's `sentence_bleu`.
pub fn sentence_bleu<R: AsRef<str>>(hypothesis: &str, references: &[R], options: &BleuOptions) -> Result<BleuScore> {
    corpus_bleu(&[hypothesis], &[references], options)
}

fn validate(hypotheses: usize, references: usize, options: &BleuOptions) -> Result<()> {
    if hypotheses != references {
        return Err(Error::LengthMismatch { metric: "BLEU", predictions: hypotheses, references });
    }
    if options.max_ngram_order == 0 {
        return Err(Error::OptionTooSmall { metric: "BLEU", option: "max_ngram_order", value: 0, min: 1 });
    }
    Ok(())
}

/// sacrebleu's sufficient statistics of a segment (or a sum of segments).
struct Stats {
    sys_len: usize,
    ref_len: usize,
    correct: Vec<usize>,
    total: Vec<usize>,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.sys_len += other.sys_len;
        self.ref_len += other.ref_len;
        for (a, b) in self.correct.iter_mut().zip(&other.correct) {
            *a += b;
        }
        for (a, b) in self.total.iter_mut().zip(&other.total) {
            *a += b;
        }
    }
}

fn preprocess(sentence: &str, lowercase: bool) -> Vec<String> {
    let s = if lowercase { sentence.to_lowercase() } else { sentence.to_owned() };
    let tokenized = tokenize_13a(python_whitespace::rstrip(&s));
    python_whitespace::split(&tokenized).map(str::to_owned).collect()
}

fn ngram_counts(tokens: &[String], max_order: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for n in 1..=max_order.min(tokens.len()) {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// `None` when there is no reference.
fn segment_stats<R: AsRef<str>>(hypothesis: &str, references: &[R], options: &BleuOptions) -> Option<Stats> {
    let order = options.max_ngram_order;
    let refs: Vec<Vec<String>> = references.iter().map(|r| preprocess(r.as_ref(), options.lowercase)).collect();
    let hyp = preprocess(hypothesis, options.lowercase);
    // Each n-gram's count clipped by its largest count in any single reference.
    let mut max_ref_counts: HashMap<&[String], usize> = HashMap::new();
    for r in &refs {
        for (gram, c) in ngram_counts(r, order) {
            let slot = max_ref_counts.entry(gram).or_insert(0);
            *slot = (*slot).max(c);
        }
    }
    let ref_len = closest_ref_len(hyp.len(), refs.iter().map(Vec::len))?;
    let mut correct = vec![0; order];
    let mut total = vec![0; order];
    for (gram, c) in ngram_counts(&hyp, order) {
        total[gram.len() - 1] += c;
        correct[gram.len() - 1] += c.min(max_ref_counts.get(gram).copied().unwrap_or(0));
    }
    Some(Stats { sys_len: hyp.len(), ref_len, correct, total })
}

/// The reference length closest to the hypothesis length, the shorter one on ties.
fn closest_ref_len(hyp_len: usize, ref_lens: impl Iterator<Item = usize>) -> Option<usize> {
    ref_lens.min_by_key(|&r| (r.abs_diff(hyp_len), r))
}

/// sacrebleu's `my_log`: a log that maps 0 to a huge negative number instead of -inf.
fn my_log(x: f64) -> f64 {
    if x > 0.0 {
        x.ln()
    } else {
        -9_999_999_999.0
    }
}

/// sacrebleu's `BLEU.compute_bleu`, statement for statement.
fn compute_bleu(stats: &Stats, options: &BleuOptions) -> BleuScore {
    let max_order = options.max_ngram_order;
    let (sys_len, ref_len) = (stats.sys_len, stats.ref_len);
    let brevity_penalty = if sys_len >= ref_len {
        1.0
    } else if sys_len > 0 {
        (1.0 - ref_len as f64 / sys_len as f64).exp()
    } else {
        0.0
    };
    let mut precisions = vec![0.0; max_order];
    let result = |score, precisions| BleuScore {
        score,
        counts: stats.correct.clone(),
        totals: stats.total.clone(),
        precisions,
        brevity_penalty,
        sys_len,
        ref_len,
    };
    if stats.correct.iter().all(|&c| c == 0) {
        return result(0.0, precisions);
    }
    let mut smooth_mteval = 1.0;
    let mut eff_order = max_order;
    for (n, precision) in precisions.iter_mut().enumerate() {
        // add-k changes the counts from order 2 on, before anything else looks at them.
        let k = match options.smoothing {
            Smoothing::AddK(k) if n > 0 => k,
            _ => 0.0,
        };
        let (correct, total) = (stats.correct[n] as f64 + k, stats.total[n] as f64 + k);
        if total == 0.0 {
            break;
        }
        if options.effective_order {
            eff_order = n + 1;
        }
        *precision = if correct == 0.0 {
            match options.smoothing {
                Smoothing::Exp => {
                    smooth_mteval *= 2.0;
                    100.0 / (smooth_mteval * total)
                }
                Smoothing::Floor(value) => 100.0 * value / total,
                Smoothing::None | Smoothing::AddK(_) => 0.0,
            }
        } else {
            100.0 * correct / total
        };
    }
    let log_sum: f64 = precisions[..eff_order].iter().map(|&p| my_log(p)).sum();
    result(brevity_penalty * (log_sum / eff_order as f64).exp(), precisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_sentence_scores_100() -> Result<()> {
        let s = sentence_bleu("The cat sat on the mat.", &["The cat sat on the mat."], &BleuOptions::sentence())?;
        assert!((s.score - 100.0).abs() < 1e-9);
        assert_eq!(s.counts, [7, 6, 5, 4]);
        Ok(())
    }

    #[test]
    fn clips_by_the_best_single_reference_and_uses_closest_length() -> Result<()> {
        // "the the the" against refs with 1 and 2 "the": clipped unigram matches = 2.
        // Lengths 2 and 4 are both 1 away from 3: the shorter (2) is the reference length.
        let s = sentence_bleu("the the the", &["the cat", "the the cat sat"], &BleuOptions::sentence())?;
        assert_eq!(s.counts[0], 2);
        assert_eq!(s.ref_len, 2);
        Ok(())
    }

    #[test]
    fn exp_smoothing_halves_each_further_missing_order() -> Result<()> {
        // 4 tokens, unigrams 2/4, no bigram/trigram/4-gram matches: precisions 50, 100/(2*3),
        // 100/(4*2), 100/(8*1); brevity penalty 1 (same length).
        let s = sentence_bleu("a x b y", &["a b c d"], &BleuOptions::sentence())?;
        let want = [50.0, 100.0 / 6.0, 100.0 / 8.0, 100.0 / 8.0];
        for (p, w) in s.precisions.iter().zip(want) {
            assert!((p - w).abs() < 1e-12, "{p} vs {w}");
        }
        let geo = (want.iter().map(|p: &f64| p.ln()).sum::<f64>() / 4.0).exp();
        assert!((s.score - geo).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error() {
        let none: [&str; 0] = [];
        assert!(matches!(sentence_bleu("a", &none, &BleuOptions::sentence()), Err(Error::NoReferences { index: 0, .. })));
        let r = corpus_bleu(&["a", "b"], &[["a"]], &BleuOptions::corpus());
        assert!(matches!(r, Err(Error::LengthMismatch { predictions: 2, references: 1, .. })));
    }
}

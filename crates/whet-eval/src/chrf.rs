//! chrF and chrF++ as sacrebleu 2.x's `CHRF` computes them (`sacrebleu/metrics/chrf.py`):
//! character n-grams up to order 6 with whitespace removed, plus word n-grams up to
//! `word_order` for chrF++ (words split on whitespace, one leading or trailing punctuation
//! character split off, as sacrebleu does), per-order precision and recall averaged over the
//! orders that exist on both sides, then F-beta with beta 2. With several references, each
//! segment uses the reference with the best segment-level score; a corpus score sums the
//! statistics of its segments. Scores are on sacrebleu's 0-100 scale.
//!
//! Small enough to write here (no crate computes sacrebleu's chrF). Defaults: [`ChrfOptions::chrf`]
//! is `CHRF()`, [`ChrfOptions::chrf_plus_plus`] is `CHRF(word_order=2)`.

use std::collections::HashMap;
use std::hash::Hash;

use crate::error::{Error, Result};
use crate::python_whitespace;

#[derive(Debug, Clone, PartialEq)]
pub struct ChrfOptions {
    pub char_order: usize,
    /// 0 for chrF, 2 for chrF++.
    pub word_order: usize,
    pub beta: u32,
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams (sacrebleu's `whitespace=True`).
    pub whitespace: bool,
    /// chrF++.py's epsilon smoothing (sacrebleu's `eps_smoothing=True`) instead of averaging over
    /// the orders that exist.
    pub eps_smoothing: bool,
}

impl ChrfOptions {
    /// sacrebleu's `CHRF()`.
    pub fn chrf() -> ChrfOptions {
        ChrfOptions { char_order: 6, word_order: 0, beta: 2, lowercase: false, whitespace: false, eps_smoothing: false }
    }

    /// sacrebleu's `CHRF(word_order=2)`.
    pub fn chrf_plus_plus() -> ChrfOptions {
        ChrfOptions { word_order: 2, ..ChrfOptions::chrf() }
    }

    fn orders(&self) -> usize {
        self.char_order + self.word_order
    }
}

/// chrF of a corpus (0-100): `references[i]` are the references of `hypotheses[i]`.
pub fn corpus_chrf<H, R, Refs>(hypotheses: &[H], references: &[Refs], options: &ChrfOptions) -> Result<f64>
where
    H: AsRef<str>,
    R: AsRef<str>,
    Refs: AsRef<[R]>,
{
    if hypotheses.len() != references.len() {
        return Err(Error::LengthMismatch { metric: "chrF", predictions: hypotheses.len(), references: references.len() });
    }
    if options.orders() == 0 {
        return Err(Error::OptionTooSmall { metric: "chrF", option: "char_order + word_order", value: 0, min: 1 });
    }
    let mut sum = vec![OrderStats::default(); options.orders()];
    for (i, (hyp, refs)) in hypotheses.iter().zip(references).enumerate() {
        let best = segment_stats(hyp.as_ref(), refs.as_ref(), options)
            .ok_or(Error::NoReferences { metric: "chrF", index: i })?;
        for (s, b) in sum.iter_mut().zip(best) {
            s.hyp += b.hyp;
            s.reference += b.reference;
            s.matches += b.matches;
        }
    }
    Ok(f_score(&sum, options))
}

/// chrF of one hypothesis (0-100).
pub fn sentence_chrf<R: AsRef<str>>(hypothesis: &str, references: &[R], options: &ChrfOptions) -> Result<f64> {
    corpus_chrf(&[hypothesis], &[references], options)
}

/// Hypothesis n-grams (counted only when the reference has n-grams of this order), reference
/// n-grams, and clipped matches, for one order.
#[derive(Debug, Clone, Copy, Default)]
struct OrderStats {
    hyp: usize,
    reference: usize,
    matches: usize,
}

/// The n-gram counts of every order: character orders first, then word orders.
struct Ngrams {
    chars: Vec<HashMap<Vec<char>, usize>>,
    words: Vec<HashMap<Vec<String>, usize>>,
}

fn ngrams(sentence: &str, options: &ChrfOptions) -> Ngrams {
    let sentence = if options.lowercase { sentence.to_lowercase() } else { sentence.to_owned() };
    let chars: Vec<char> = if options.whitespace {
        sentence.chars().collect()
    } else {
        python_whitespace::split(&sentence).flat_map(str::chars).collect()
    };
    let words = split_punctuation(&sentence);
    Ngrams {
        chars: (1..=options.char_order).map(|n| count(&chars, n)).collect(),
        words: (1..=options.word_order).map(|n| count(&words, n)).collect(),
    }
}

fn count<T: Clone + Eq + Hash>(items: &[T], n: usize) -> HashMap<Vec<T>, usize> {
    let mut counts = HashMap::new();
    for gram in items.windows(n) {
        *counts.entry(gram.to_vec()).or_insert(0) += 1;
    }
    counts
}

/// sacrebleu's `_remove_punctuation`: a word of two or more characters loses one trailing
/// punctuation character, or else one leading one, into a word of its own ("(hi)" gives "(hi"
/// and ")", as in sacrebleu).
fn split_punctuation(sentence: &str) -> Vec<String> {
    let is_punct = |c: char| c.is_ascii_punctuation();
    let mut words = Vec::new();
    for w in python_whitespace::split(sentence) {
        let mut chars = w.chars();
        let (first, last) = (chars.next(), chars.next_back());
        match (first, last) {
            (Some(_), Some(l)) if is_punct(l) => {
                words.push(w[..w.len() - l.len_utf8()].to_owned());
                words.push(l.to_string());
            }
            (Some(f), Some(_)) if is_punct(f) => {
                words.push(f.to_string());
                words.push(w[f.len_utf8()..].to_owned());
            }
            _ => words.push(w.to_owned()),
        }
    }
    words
}

fn match_stats<K: Eq + Hash>(hyp: &HashMap<K, usize>, reference: &HashMap<K, usize>) -> OrderStats {
    let matches = hyp.iter().map(|(g, &c)| c.min(reference.get(g).copied().unwrap_or(0))).sum();
    // sacrebleu counts no hypothesis n-grams for an order the reference lacks.
    let hyp_count = if reference.is_empty() { 0 } else { hyp.values().sum() };
    OrderStats { hyp: hyp_count, reference: reference.values().sum(), matches }
}

/// The statistics against the reference with the highest segment score (the first on ties);
/// `None` without references.
fn segment_stats<R: AsRef<str>>(hypothesis: &str, references: &[R], options: &ChrfOptions) -> Option<Vec<OrderStats>> {
    let hyp = ngrams(hypothesis, options);
    let mut best: Option<(f64, Vec<OrderStats>)> = None;
    for reference in references {
        let r = ngrams(reference.as_ref(), options);
        let stats: Vec<OrderStats> = (hyp.chars.iter().zip(&r.chars).map(|(h, r)| match_stats(h, r)))
            .chain(hyp.words.iter().zip(&r.words).map(|(h, r)| match_stats(h, r)))
            .collect();
        let f = f_score(&stats, options);
        if best.as_ref().is_none_or(|(best_f, _)| f > *best_f) {
            best = Some((f, stats));
        }
    }
    best.map(|(_, stats)| stats)
}

/// sacrebleu's `CHRF._compute_f_score`, statement for statement.
fn f_score(stats: &[OrderStats], options: &ChrfOptions) -> f64 {
    const EPS: f64 = 1e-16;
    let factor = f64::from(options.beta * options.beta);
    let (mut score, mut avg_prec, mut avg_rec, mut effective_order) = (0.0, 0.0, 0.0, 0usize);
    for s in stats {
        let prec = if s.hyp > 0 { s.matches as f64 / s.hyp as f64 } else { EPS };
        let rec = if s.reference > 0 { s.matches as f64 / s.reference as f64 } else { EPS };
        let denom = factor * prec + rec;
        score += if denom > 0.0 { (1.0 + factor) * prec * rec / denom } else { EPS };
        if s.hyp > 0 && s.reference > 0 {
            avg_prec += prec;
            avg_rec += rec;
            effective_order += 1;
        }
    }
    if options.eps_smoothing {
        return 100.0 * score / stats.len() as f64;
    }
    if effective_order == 0 {
        return 0.0;
    }
    avg_prec /= effective_order as f64;
    avg_rec /= effective_order as f64;
    if avg_prec + avg_rec == 0.0 {
        return 0.0;
    }
    100.0 * ((1.0 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_and_disjoint_sentences() -> Result<()> {
        let o = ChrfOptions::chrf();
        assert!((sentence_chrf("a cat", &["a cat"], &o)? - 100.0).abs() < 1e-9);
        assert_eq!(sentence_chrf("xyz", &["abc"], &o)?, 0.0);
        assert_eq!(sentence_chrf("", &[""], &o)?, 0.0);
        Ok(())
    }

    #[test]
    fn whitespace_does_not_count_by_default() -> Result<()> {
        let o = ChrfOptions::chrf();
        assert!((sentence_chrf("ab cd", &["abcd"], &o)? - 100.0).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn unigram_only_is_f_beta_of_character_precision_and_recall() -> Result<()> {
        // char_order 1: "ab" vs "abcd": precision 2/2, recall 2/4; F2 = 5 * 1 * 0.5 / (4 + 0.5).
        let o = ChrfOptions { char_order: 1, ..ChrfOptions::chrf() };
        let want = 100.0 * 5.0 * 0.5 / 4.5;
        assert!((sentence_chrf("ab", &["abcd"], &o)? - want).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn splits_one_punctuation_character_off_a_word() {
        let words = split_punctuation("(hi) there! \"q\" x. !! a");
        assert_eq!(words, ["(hi", ")", "there", "!", "\"q", "\"", "x", ".", "!", "!", "a"]);
    }
}

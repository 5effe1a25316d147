//! ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum (precision, recall, F-measure) exactly as Google's
//! `rouge-score` 0.1.2 computes them: `rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL",
//! "rougeLsum"], use_stemmer)` with its default tokenizer (`rouge_score/tokenize.py`,
//! `tokenizers.py`, `rouge_scorer.py`).
//!
//! Own code rather than a crate: `rougers` 0.2.1 ports rouge-score but pins its dependencies to
//! exact versions (`=`), which downgraded `icu_*` (2.4 → 2.3) and `unicode-normalization`
//! (0.1.26 → 0.1.25) for the whole workspace, changing whet-data's normalisation tables and
//! blocking updates; the stemmer crate `rust-stemmers` is Porter2, not the NLTK Porter stemmer
//! rouge-score uses (see `porter.rs`, ported from nltk 3.10.4). The goldens in
//! `tests/golden/metrics/` (from `reference/make_metric_goldens.py`) check both against
//! rouge-score itself.
//!
//! - Tokens: the text lowercased (Python's `str.lower`; of the characters outside `[A-Za-z0-9]`,
//!   only U+0130 and U+212A lowercase to ASCII letters, and `char::to_lowercase` agrees on both),
//!   every character outside `[a-z0-9]` a separator; with stemming, tokens longer than three
//!   characters go through the Porter stemmer. Text in other scripts has no tokens and scores 0.
//! - ROUGE-N: clipped n-gram overlap over each side's n-gram count (taken as at least 1, so an
//!   empty side scores 0).
//! - ROUGE-L: the longest common subsequence of the two token lists; 0 when either is empty.
//! - ROUGE-Lsum: the summary-level LCS over sentences split at `\n` (empty lines dropped): for each
//!   reference sentence the union of its LCS with every prediction sentence, each token counted
//!   at most as often as it occurs on both sides (as ROUGE-1.5.5 does). Which LCS is taken when
//!   there are several matters for the union; the backtrack breaks ties as rouge-score does.
//!
//! Not supported: rouge-score's `split_summaries` (sentences from `nltk.sent_tokenize`), custom
//! tokenizers, and ROUGE-N for N other than 1 and 2.

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::porter;

/// Precision, recall and F-measure of one ROUGE variant, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RougeScore {
    pub precision: f64,
    pub recall: f64,
    pub fmeasure: f64,
}

impl RougeScore {
    const ZERO: RougeScore = RougeScore { precision: 0.0, recall: 0.0, fmeasure: 0.0 };

    /// From matches over lengths, as rouge-score divides them (`f64` of exact integers).
    fn new(matches: usize, prediction_len: usize, reference_len: usize) -> RougeScore {
        let precision = matches as f64 / prediction_len as f64;
        let recall = matches as f64 / reference_len as f64;
        // rouge_score.scoring.fmeasure, in its order of operations.
        let fmeasure = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        RougeScore { precision, recall, fmeasure }
    }
}

/// The four variants for one prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RougeScores {
    pub rouge1: RougeScore,
    pub rouge2: RougeScore,
    pub rouge_l: RougeScore,
    pub rouge_lsum: RougeScore,
}

/// A ROUGE scorer; build it once and score many predictions.
#[derive(Debug, Clone, Copy)]
pub struct Rouge {
    use_stemmer: bool,
}

/// A text's tokens, whole and per line (for ROUGE-Lsum).
struct Tokenized {
    tokens: Vec<String>,
    sentences: Vec<Vec<String>>,
}

impl Rouge {
    /// rouge-score's `RougeScorer(..., use_stemmer)`.
    pub fn new(use_stemmer: bool) -> Rouge {
        Rouge { use_stemmer }
    }

    /// rouge-score's `score(target=reference, prediction=prediction)`. Note the order: the
    /// prediction first, as everywhere in whet-eval (rouge-score takes the reference first).
    pub fn score(&self, prediction: &str, reference: &str) -> RougeScores {
        score_tokenized(&self.tokenize_text(prediction), &self.tokenize_text(reference))
    }

    /// rouge-score's `score_multi(targets=references, prediction)`: for each variant separately,
    /// the reference with the highest F-measure (the first on ties, as `np.argmax`).
    pub fn score_multi<S: AsRef<str>>(&self, prediction: &str, references: &[S]) -> Result<RougeScores> {
        let prediction = self.tokenize_text(prediction);
        let mut best: Option<RougeScores> = None;
        for reference in references {
            let scores = score_tokenized(&prediction, &self.tokenize_text(reference.as_ref()));
            best = Some(match best {
                None => scores,
                Some(best) => RougeScores {
                    rouge1: higher_fmeasure(best.rouge1, scores.rouge1),
                    rouge2: higher_fmeasure(best.rouge2, scores.rouge2),
                    rouge_l: higher_fmeasure(best.rouge_l, scores.rouge_l),
                    rouge_lsum: higher_fmeasure(best.rouge_lsum, scores.rouge_lsum),
                },
            });
        }
        best.ok_or(Error::NoReferences { metric: "ROUGE", index: 0 })
    }

    /// The tokens rouge-score scores (after stemming, when on): `DefaultTokenizer.tokenize`.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut token = String::new();
        for c in text.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                token.push(c);
            } else if !token.is_empty() {
                tokens.push(std::mem::take(&mut token));
            }
        }
        if !token.is_empty() {
            tokens.push(token);
        }
        // Tokens are non-empty [a-z0-9]+, and stay so when stemmed: rouge-score's final
        // filter (`VALID_TOKEN_RE`) drops nothing here.
        if self.use_stemmer {
            for token in tokens.iter_mut().filter(|t| t.len() > 3) {
                *token = porter::stem(token);
            }
        }
        tokens
    }

    fn tokenize_text(&self, text: &str) -> Tokenized {
        let sentences = text.split('\n').filter(|line| !line.is_empty()).map(|line| self.tokenize(line)).collect();
        Tokenized { tokens: self.tokenize(text), sentences }
    }
}

/// `candidate` if its F-measure is strictly higher, else `current`.
fn higher_fmeasure(current: RougeScore, candidate: RougeScore) -> RougeScore {
    if candidate.fmeasure > current.fmeasure {
        candidate
    } else {
        current
    }
}

fn score_tokenized(prediction: &Tokenized, reference: &Tokenized) -> RougeScores {
    RougeScores {
        rouge1: score_ngrams(&prediction.tokens, &reference.tokens, 1),
        rouge2: score_ngrams(&prediction.tokens, &reference.tokens, 2),
        rouge_l: score_lcs(&prediction.tokens, &reference.tokens),
        rouge_lsum: score_summary_lcs(&prediction.sentences, &reference.sentences),
    }
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for ngram in tokens.windows(n) {
        *counts.entry(ngram).or_insert(0) += 1;
    }
    counts
}

/// ROUGE-N. With no n-grams on a side its count is taken as 1, so the score is 0, not NaN.
fn score_ngrams(prediction: &[String], reference: &[String], n: usize) -> RougeScore {
    let prediction_counts = ngram_counts(prediction, n);
    let reference_counts = ngram_counts(reference, n);
    let matches: usize = reference_counts
        .iter()
        .map(|(ngram, &count)| count.min(prediction_counts.get(ngram).copied().unwrap_or(0)))
        .sum();
    let total = |counts: &HashMap<&[String], usize>| counts.values().sum::<usize>().max(1);
    RougeScore::new(matches, total(&prediction_counts), total(&reference_counts))
}

/// ROUGE-L over the whole token lists.
fn score_lcs(prediction: &[String], reference: &[String]) -> RougeScore {
    if prediction.is_empty() || reference.is_empty() {
        return RougeScore::ZERO;
    }
    let lcs = LcsTable::new(reference, prediction).length();
    RougeScore::new(lcs, prediction.len(), reference.len())
}

/// ROUGE-Lsum: rouge-score's `_summary_level_lcs`.
fn score_summary_lcs(prediction: &[Vec<String>], reference: &[Vec<String>]) -> RougeScore {
    let prediction_len: usize = prediction.iter().map(Vec::len).sum();
    let reference_len: usize = reference.iter().map(Vec::len).sum();
    if prediction_len == 0 || reference_len == 0 {
        return RougeScore::ZERO;
    }
    // Tokens not yet matched, per side: a token is a hit at most as often as it occurs on both.
    let mut prediction_left = token_counts(prediction);
    let mut reference_left = token_counts(reference);
    let mut hits = 0;
    for sentence in reference {
        let union: BTreeSet<usize> =
            prediction.iter().flat_map(|candidate| LcsTable::new(sentence, candidate).reference_indices()).collect();
        for token in union.iter().map(|&i| sentence[i].as_str()) {
            if let (Some(p), Some(r)) = (prediction_left.get_mut(token), reference_left.get_mut(token)) {
                if *p > 0 && *r > 0 {
                    hits += 1;
                    *p -= 1;
                    *r -= 1;
                }
            }
        }
    }
    RougeScore::new(hits, prediction_len, reference_len)
}

fn token_counts(sentences: &[Vec<String>]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for token in sentences.iter().flatten() {
        *counts.entry(token.as_str()).or_insert(0) += 1;
    }
    counts
}

/// The dynamic-programming table of LCS lengths of every pair of prefixes (rouge-score's
/// `_lcs_table`): `cell(i, j)` is the LCS length of `reference[..i]` and `candidate[..j]`.
struct LcsTable<'a> {
    reference: &'a [String],
    candidate: &'a [String],
    /// (reference.len() + 1) rows of (candidate.len() + 1), row-major.
    cells: Vec<usize>,
}

impl<'a> LcsTable<'a> {
    fn new(reference: &'a [String], candidate: &'a [String]) -> LcsTable<'a> {
        let width = candidate.len() + 1;
        let mut cells = vec![0; (reference.len() + 1) * width];
        for i in 1..=reference.len() {
            for j in 1..=candidate.len() {
                cells[i * width + j] = if reference[i - 1] == candidate[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        LcsTable { reference, candidate, cells }
    }

    fn cell(&self, i: usize, j: usize) -> usize {
        self.cells[i * (self.candidate.len() + 1) + j]
    }

    fn length(&self) -> usize {
        self.cell(self.reference.len(), self.candidate.len())
    }

    /// The reference positions of one LCS, read back from the end as rouge-score's
    /// `_backtrack_norec` does: on a tie it steps back in the reference, not the candidate.
    fn reference_indices(&self) -> Vec<usize> {
        let (mut i, mut j) = (self.reference.len(), self.candidate.len());
        let mut indices = Vec::new();
        while i > 0 && j > 0 {
            if self.reference[i - 1] == self.candidate[j - 1] {
                indices.push(i - 1);
                i -= 1;
                j -= 1;
            } else if self.cell(i, j - 1) > self.cell(i - 1, j) {
                j -= 1;
            } else {
                i -= 1;
            }
        }
        indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn rouge_matches_hand_counts() -> Result<()> {
        let rouge = Rouge::new(false);
        // Reference "the cat sat on the mat" (6 tokens), prediction "the cat on the mat" (5):
        // 5 shared unigrams, 3 of 4 bigrams shared ("the cat", "on the", "the mat"), LCS 5.
        let s = rouge.score("The cat on the mat.", "the cat sat on the mat");
        assert!(close(s.rouge1.precision, 1.0));
        assert!(close(s.rouge1.recall, 5.0 / 6.0));
        assert!(close(s.rouge2.precision, 3.0 / 4.0));
        assert!(close(s.rouge2.recall, 3.0 / 5.0));
        assert!(close(s.rouge_l.fmeasure, 2.0 * 5.0 / 11.0));
        Ok(())
    }

    #[test]
    fn rouge_lsum_takes_the_union_lcs_over_prediction_sentences() -> Result<()> {
        let rouge = Rouge::new(false);
        // Lin (2004), section 3.2: reference w1..w5; the prediction's sentences share LCS w1 w2
        // and w1 w3 w5 with it; their union w1 w2 w3 w5 gives 4 hits of 5 reference and 10
        // prediction tokens.
        let s = rouge.score("w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", "w1 w2 w3 w4 w5");
        assert!(close(s.rouge_lsum.recall, 4.0 / 5.0));
        assert!(close(s.rouge_lsum.precision, 4.0 / 10.0));
        // Each token counts at most as often as it occurs on both sides: both reference lines
        // match "a b", but the prediction holds it once.
        let s = rouge.score("a b", "a b\na b");
        assert!(close(s.rouge_lsum.recall, 2.0 / 4.0));
        assert!(close(s.rouge_lsum.precision, 1.0));
        Ok(())
    }

    #[test]
    fn stemming_uses_nltk_porter_not_porter2() -> Result<()> {
        // NLTK's Porter: "generously" -> "gener", "fairly" -> "fairli" (Porter2: "generous", "fair").
        assert_eq!(Rouge::new(true).tokenize("Generously, fairly!"), ["gener", "fairli"]);
        assert_eq!(Rouge::new(false).tokenize("Generously, fairly!"), ["generously", "fairly"]);
        // Tokens of three characters or fewer are not stemmed (NLTK alone stems "was" to "wa").
        assert_eq!(Rouge::new(true).tokenize("was dies goes"), ["was", "die", "goe"]);
        Ok(())
    }

    #[test]
    fn empty_text_scores_zero() -> Result<()> {
        let rouge = Rouge::new(false);
        for (prediction, reference) in [("", "a b"), ("a b", ""), ("", ""), ("\n\n", "...")] {
            let s = rouge.score(prediction, reference);
            for variant in [s.rouge1, s.rouge2, s.rouge_l, s.rouge_lsum] {
                assert_eq!(variant, RougeScore::ZERO, "{prediction:?} vs {reference:?}");
            }
        }
        Ok(())
    }

    #[test]
    fn multi_reference_needs_a_reference() -> Result<()> {
        let none: [&str; 0] = [];
        assert!(matches!(Rouge::new(false).score_multi("a", &none), Err(Error::NoReferences { .. })));
        Ok(())
    }
}

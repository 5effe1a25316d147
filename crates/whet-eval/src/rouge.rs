//! ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum (precision, recall, F-measure) exactly as Google's
//! `rouge-score` package computes them (`rouge_scorer.RougeScorer`, default tokenizer: lowercase,
//! every character outside `[a-z0-9]` a separator, and with `use_stemmer` NLTK's `PorterStemmer`
//! in its default `NLTK_EXTENSIONS` mode on tokens longer than three characters). ROUGE-L is the
//! LCS over the whole text; ROUGE-Lsum is the summary-level LCS over newline-separated sentences.
//!
//! The scoring is the `rougers` crate, which ports rouge-score and NLTK's stemmer; the goldens in
//! `tests/golden/metrics/` (from `reference/make_metric_goldens.py`) check it against rouge-score
//! itself. The Snowball "english" stemmer (`rust-stemmers`) is Porter2, not NLTK's Porter: they
//! stem "generously", "fairly" or "communism" differently, so it would not match.
//!
//! Like rouge-score, the default tokenizer keeps only ASCII letters and digits: text in other
//! scripts has no tokens and scores 0.

use rougers::{RougeScorer, RougeType, Scores, Tokenizer};

use crate::error::{Error, Result};

/// Precision, recall and F-measure of one ROUGE variant, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RougeScore {
    pub precision: f64,
    pub recall: f64,
    pub fmeasure: f64,
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
#[derive(Debug, Clone)]
pub struct Rouge {
    scorer: RougeScorer,
}

const VARIANTS: [RougeType; 4] = [RougeType::N(1), RougeType::N(2), RougeType::L, RougeType::LSum];

impl Rouge {
    pub fn new(use_stemmer: bool) -> Result<Rouge> {
        let scorer = RougeScorer::with_tokenizer(VARIANTS.to_vec(), Tokenizer::new(use_stemmer))?;
        Ok(Rouge { scorer })
    }

    /// rouge-score's `score(target=reference, prediction=prediction)`. Note the order: the
    /// prediction first, as everywhere in whet-eval (rouge-score takes the reference first).
    pub fn score(&self, prediction: &str, reference: &str) -> RougeScores {
        convert(&self.scorer.score(reference, prediction))
    }

    /// rouge-score's `score_multi(targets=references, prediction)`: for each variant separately,
    /// the reference with the highest F-measure (the first on ties).
    pub fn score_multi<S: AsRef<str>>(&self, prediction: &str, references: &[S]) -> Result<RougeScores> {
        let scores = self
            .scorer
            .score_multi(references, prediction)
            .ok_or(Error::NoReferences { metric: "ROUGE", index: 0 })?;
        Ok(convert(&scores))
    }

    /// The tokens rouge-score scores (after stemming, when on).
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        self.scorer.tokenizer().tokenize(text)
    }
}

fn convert(scores: &Scores) -> RougeScores {
    let get = |t: RougeType| {
        let s = scores.get(t).unwrap_or_default();
        RougeScore { precision: s.precision, recall: s.recall, fmeasure: s.fmeasure }
    };
    RougeScores {
        rouge1: get(RougeType::N(1)),
        rouge2: get(RougeType::N(2)),
        rouge_l: get(RougeType::L),
        rouge_lsum: get(RougeType::LSum),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_matches_hand_counts() -> Result<()> {
        let rouge = Rouge::new(false)?;
        // Reference "the cat sat on the mat" (6 tokens), prediction "the cat on the mat" (5):
        // 5 shared unigrams, 3 of 4 bigrams shared ("the cat", "on the", "the mat"), LCS 5.
        let s = rouge.score("The cat on the mat.", "the cat sat on the mat");
        assert!((s.rouge1.precision - 1.0).abs() < 1e-12);
        assert!((s.rouge1.recall - 5.0 / 6.0).abs() < 1e-12);
        assert!((s.rouge2.precision - 3.0 / 4.0).abs() < 1e-12);
        assert!((s.rouge2.recall - 3.0 / 5.0).abs() < 1e-12);
        assert!((s.rouge_l.fmeasure - 2.0 * 5.0 / 11.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn stemming_uses_nltk_porter_not_porter2() -> Result<()> {
        // NLTK's Porter: "generously" -> "gener", "fairly" -> "fairli" (Porter2: "generous", "fair").
        assert_eq!(Rouge::new(true)?.tokenize("Generously, fairly!"), ["gener", "fairli"]);
        assert_eq!(Rouge::new(false)?.tokenize("Generously, fairly!"), ["generously", "fairly"]);
        Ok(())
    }

    #[test]
    fn multi_reference_needs_a_reference() -> Result<()> {
        let none: [&str; 0] = [];
        assert!(matches!(Rouge::new(false)?.score_multi("a", &none), Err(Error::NoReferences { .. })));
        Ok(())
    }
}

//! Exact match and token F1 as the SQuAD v1.1 evaluation script defines them: both strings
//! normalised (lower-cased, ASCII punctuation removed, the articles "a", "an", "the" removed,
//! whitespace collapsed), then compared whole (exact match) or as bags of tokens (F1). Small
//! enough to write here; checked against torchmetrics' port of the SQuAD script on the goldens of
//! `reference/make_squad_goldens.py` (one difference, kept: when both sides normalise to nothing,
//! v1.1 gives F1 0 and SQuAD v2, which torchmetrics follows, gives 1).

use std::collections::HashMap;

/// SQuAD's `normalize_answer`.
pub fn normalize_answer(s: &str) -> String {
    let lower = s.to_lowercase();
    let no_punct: String = lower.chars().filter(|c| !c.is_ascii_punctuation()).collect();
    no_punct
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `prediction` equals `reference` after normalisation.
pub fn exact_match(prediction: &str, reference: &str) -> bool {
    normalize_answer(prediction) == normalize_answer(reference)
}

/// SQuAD's `f1_score`: harmonic mean of token precision and recall after normalisation
/// (0 when either side has no tokens or they share none).
pub fn f1_score(prediction: &str, reference: &str) -> f64 {
    let pred = normalize_answer(prediction);
    let gold = normalize_answer(reference);
    let (pred, gold): (Vec<&str>, Vec<&str>) = (pred.split_whitespace().collect(), gold.split_whitespace().collect());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &gold {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0usize;
    for t in &pred {
        if let Some(c) = counts.get_mut(t).filter(|c| **c > 0) {
            *c -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / pred.len() as f64;
    let recall = common as f64 / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_as_squad_does() {
        // Values as SQuAD v1.1's evaluate script computes them.
        assert_eq!(normalize_answer("The Quick,  brown fox!"), "quick brown fox");
        assert_eq!(normalize_answer("an apple a day"), "apple day");
        assert_eq!(normalize_answer("theory"), "theory");
        assert_eq!(normalize_answer("Denver Broncos."), "denver broncos");
        assert_eq!(normalize_answer("it's 5:30 p.m."), "its 530 pm");
        assert!(exact_match("The Denver Broncos", "denver broncos"));
        assert!(!exact_match("Denver", "Denver Broncos"));
        assert!(exact_match("", "the"));
    }

    #[test]
    fn f1_counts_shared_tokens_as_squad_does() {
        // precision 2/3 ("denver", "broncos" of 3), recall 2/2: F1 = 0.8.
        assert!((f1_score("the Denver Broncos team", "Denver Broncos") - 0.8).abs() < 1e-12);
        // Repeated tokens count once per occurrence on both sides: common = 1, P = 1/2, R = 1.
        assert!((f1_score("blue blue", "blue") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(f1_score("red", "blue"), 0.0);
        assert_eq!(f1_score("", "blue"), 0.0);
        assert_eq!(f1_score("A blue sky.", "the blue sky"), 1.0);
    }
}

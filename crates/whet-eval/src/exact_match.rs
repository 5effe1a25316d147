//! Exact match as the SQuAD v1.1 evaluation script defines it: both strings normalised
//! (lower-cased, ASCII punctuation removed, the articles "a", "an", "the" removed, whitespace
//! collapsed) and compared. Small enough to write here; the tests pin the reference's behaviour.

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
}

//! Whole-word, case-insensitive matching of many terms at once (for content policies and the
//! bias audit), with `aho-corasick` over lower-cased text.
//!
//! A term matches where it is not preceded or followed by a letter or digit, so `he` does not
//! match inside `the`. Multi-word terms match with single spaces between the words only.
//! Overlapping terms each count (`new york` and `york` both match in "new york").

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// A set of terms, each belonging to a group (a policy category, a bias group).
pub struct TermMatcher {
    ac: Option<AhoCorasick>,
    group_of: Vec<usize>,
    terms: Vec<String>,
}

impl TermMatcher {
    /// `groups[i]` is the list of terms of group `i`. Empty terms are ignored.
    pub fn new(groups: &[Vec<String>]) -> Result<Self, String> {
        let mut terms = Vec::new();
        let mut group_of = Vec::new();
        for (g, list) in groups.iter().enumerate() {
            for t in list {
                let t = t.trim().to_lowercase();
                if !t.is_empty() {
                    terms.push(t);
                    group_of.push(g);
                }
            }
        }
        let ac = if terms.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&terms)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(TermMatcher { ac, group_of, terms })
    }

    /// Calls `f(group, term)` for each whole-word match in `lower` (already lower-cased).
    pub fn for_each_match(&self, lower: &str, mut f: impl FnMut(usize, &str)) {
        let Some(ac) = &self.ac else { return };
        for m in ac.find_overlapping_iter(lower) {
            let before = lower[..m.start()].chars().next_back();
            let after = lower[m.end()..].chars().next();
            if before.is_some_and(char::is_alphanumeric) || after.is_some_and(char::is_alphanumeric) {
                continue;
            }
            let p = m.pattern().as_usize();
            f(self.group_of[p], &self.terms[p]);
        }
    }

    /// Match counts per group.
    pub fn counts(&self, lower: &str, groups: usize) -> Vec<u32> {
        let mut c = vec![0u32; groups];
        self.for_each_match(lower, |g, _| c[g] += 1);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_match_whole_words_only_and_ignore_case() {
        let m = TermMatcher::new(&[vec!["he".into(), "him".into()], vec!["she".into(), "New York".into()]]).expect("builds");
        let text = "The man said he met her; She lives in new york. Shed.".to_lowercase();
        assert_eq!(m.counts(&text, 2), vec![1, 2]);
    }
}

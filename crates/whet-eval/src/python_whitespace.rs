//! Python's `str.split()` and `str.rstrip()` without arguments, which sacrebleu uses to cut
//! sentences into words. Python's whitespace is Rust's `char::is_whitespace` plus the four
//! information separators U+001C..U+001F (Python counts characters of bidirectional class B and S
//! as whitespace; Unicode's White_Space property does not include these four).

pub(crate) fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.split()`: the non-empty runs between whitespace.
pub(crate) fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_python_whitespace).filter(|w| !w.is_empty())
}

/// `s.rstrip()`.
pub(crate) fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_python_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_where_python_splits() {
        // Python: "a\x1fb\u00a0c\u3000d \t\ne\u200bf".split() == ['a', 'b', 'c', 'd', 'e\u200bf']
        let words: Vec<&str> = split("a\u{1f}b\u{a0}c\u{3000}d \t\ne\u{200b}f").collect();
        assert_eq!(words, ["a", "b", "c", "d", "e\u{200b}f"]);
        assert_eq!(split("  ").count(), 0);
        assert_eq!(rstrip("x \u{1c}\n"), "x");
    }
}

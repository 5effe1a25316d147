//! sacrebleu's default BLEU tokenizer, `13a` (`sacrebleu/tokenizers/tokenizer_13a.py` and the
//! `TokenizerRegexp` it ends with): the tokenisation of WMT's `mteval-v13a.pl`. Unescapes four
//! HTML entities, splits off punctuation and symbols, keeps `.` and `,` inside numbers, splits a
//! `-` after a digit.

use std::sync::LazyLock;

use regex::Regex;

use crate::python_whitespace;

// sacrebleu's four substitutions, in order. Python's `re.sub` and regex's `replace_all` both
// replace leftmost non-overlapping matches, and `[^0-9]` is any code point on both sides.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", " ${1} "),
        (r"([^0-9])([\.,])", "${1} ${2} "),
        (r"([\.,])([^0-9])", " ${1} ${2}"),
        (r"([0-9])(-)", "${1} ${2} "),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|re| (re, replacement)))
    .collect()
});

/// The 13a tokens of `line`, joined by single spaces (what sacrebleu's tokenizer returns).
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (re, replacement) in RULES.iter() {
        line = re.replace_all(&line, *replacement).into_owned();
    }
    python_whitespace::split(&line).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_rules_compile() {
        assert_eq!(RULES.len(), 4);
    }

    #[test]
    fn tokenizes_as_mteval_13a() {
        // Values from sacrebleu 2.6's Tokenizer13a.
        assert_eq!(tokenize_13a("Hello, world!"), "Hello , world !");
        assert_eq!(tokenize_13a("It costs $3.50, 1,000 yen."), "It costs $ 3.50 , 1,000 yen .");
        assert_eq!(tokenize_13a("pages 10-20"), "pages 10 - 20");
        assert_eq!(tokenize_13a("Tom &amp; Jerry"), "Tom & Jerry");
        assert_eq!(tokenize_13a("well-\nknown"), "wellknown");
        assert_eq!(tokenize_13a(""), "");
    }
}

//! Document quality heuristics after Gopher (Rae et al. 2021, appendix A), C4 and FineWeb:
//! word counts, mean word length, symbol and non-alphabetic ratios, bullet and ellipsis lines,
//! repeated lines, paragraphs and n-grams, stop words, boilerplate phrases, terminal punctuation.
//!
//! Words are whitespace-separated tokens, as in Gopher; n-gram repetition is measured on
//! lower-cased words with punctuation trimmed. Each check is off unless its threshold is set in
//! the config; the first failing check names the record's reason (`quality.<check>` plus the
//! measured value and the limit).

use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::config::Quality;
use crate::{Error, Result};

/// Compiled quality checks.
pub struct QualityFilter {
    cfg: Quality,
    stop_words: HashSet<String>,
    boilerplate: Option<AhoCorasick>,
}

/// Why a record failed: a stable check name and a sentence with the value and the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub check: &'static str,
    pub reason: String,
}

impl QualityFilter {
    pub fn new(cfg: &Quality) -> Result<Self> {
        let boilerplate = if cfg.boilerplate_phrases.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&cfg.boilerplate_phrases)
                    .map_err(|e| Error::Config {
                        path: "config".into(),
                        location: String::new(),
                        key: "quality.boilerplate_phrases".into(),
                        message: e.to_string(),
                    })?,
            )
        };
        Ok(QualityFilter {
            cfg: cfg.clone(),
            stop_words: cfg.stop_words.iter().map(|w| w.to_lowercase()).collect(),
            boilerplate,
        })
    }

    /// The first failing check, or `None` when the text passes all configured checks.
    pub fn check(&self, text: &str) -> Option<Failure> {
        let c = &self.cfg;
        let words: Vec<&str> = text.split_whitespace().collect();
        let n = words.len();
        let fail = |check: &'static str, reason: String| Some(Failure { check, reason });
        if let Some(min) = c.min_words {
            if n < min {
                return fail("min_words", format!("{n} words < min_words {min}"));
            }
        }
        if let Some(max) = c.max_words {
            if n > max {
                return fail("max_words", format!("{n} words > max_words {max}"));
            }
        }
        if n > 0 {
            let mean = words.iter().map(|w| w.chars().count()).sum::<usize>() as f64 / n as f64;
            if let Some(min) = c.min_mean_word_length {
                if mean < min {
                    return fail("mean_word_length", format!("mean word length {mean:.2} < {min}"));
                }
            }
            if let Some(max) = c.max_mean_word_length {
                if mean > max {
                    return fail("mean_word_length", format!("mean word length {mean:.2} > {max}"));
                }
            }
            if let Some(max) = c.max_symbol_word_ratio {
                let symbols = text.matches('#').count() + text.matches("...").count() + text.matches('…').count();
                let r = symbols as f64 / n as f64;
                if r > max {
                    return fail("symbol_word_ratio", format!("symbol/word ratio {r:.3} > {max}"));
                }
            }
            if let Some(min) = c.min_alpha_word_fraction {
                let alpha = words.iter().filter(|w| w.chars().any(char::is_alphabetic)).count();
                let f = alpha as f64 / n as f64;
                if f < min {
                    return fail("alpha_word_fraction", format!("words with a letter {f:.3} < {min}"));
                }
            }
        }
        if let Some(max) = c.max_non_alpha_char_ratio {
            let (mut total, mut non) = (0usize, 0usize);
            for ch in text.chars().filter(|c| !c.is_whitespace()) {
                total += 1;
                if !ch.is_alphabetic() {
                    non += 1;
                }
            }
            if total > 0 {
                let r = non as f64 / total as f64;
                if r > max {
                    return fail("non_alpha_char_ratio", format!("non-letter characters {r:.3} > {max}"));
                }
            }
        }
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if !lines.is_empty() {
            let nl = lines.len() as f64;
            if let Some(max) = c.max_bullet_line_fraction {
                let b = lines.iter().filter(|l| l.starts_with(['•', '-', '*', '‣', '◦', '●'])).count() as f64 / nl;
                if b > max {
                    return fail("bullet_line_fraction", format!("bullet lines {b:.3} > {max}"));
                }
            }
            if let Some(max) = c.max_ellipsis_line_fraction {
                let e = lines.iter().filter(|l| l.ends_with("...") || l.ends_with('…')).count() as f64 / nl;
                if e > max {
                    return fail("ellipsis_line_fraction", format!("lines ending in an ellipsis {e:.3} > {max}"));
                }
            }
            if let Some(max) = c.max_duplicate_line_fraction {
                let d = duplicate_fraction(lines.iter().copied());
                if d > max {
                    return fail("duplicate_line_fraction", format!("repeated lines {d:.3} > {max}"));
                }
            }
            if let Some(min) = c.min_terminal_punct_line_fraction {
                let t = lines.iter().filter(|l| l.ends_with(['.', '!', '?', '"', '”', '。', '！', '？'])).count() as f64 / nl;
                if t < min {
                    return fail("terminal_punct_line_fraction", format!("lines ending in terminal punctuation {t:.3} < {min}"));
                }
            }
        }
        if let Some(max) = c.max_duplicate_paragraph_fraction {
            let paras: Vec<&str> = text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).collect();
            if !paras.is_empty() {
                let d = duplicate_fraction(paras.iter().copied());
                if d > max {
                    return fail("duplicate_paragraph_fraction", format!("repeated paragraphs {d:.3} > {max}"));
                }
            }
        }
        if c.max_top_ngram_fraction.is_some() || c.max_duplicate_ngram_fraction.is_some() {
            let norm: Vec<String> = words
                .iter()
                .map(|w| w.trim_matches(|ch: char| !ch.is_alphanumeric()).to_lowercase())
                .filter(|w| !w.is_empty())
                .collect();
            let total_chars: usize = norm.iter().map(|w| w.chars().count()).sum();
            if total_chars > 0 {
                if let Some(limits) = c.max_top_ngram_fraction {
                    for (i, max) in limits.iter().enumerate() {
                        let f = top_ngram_char_fraction(&norm, i + 2, total_chars);
                        if f > *max {
                            return fail("top_ngram_fraction", format!("most frequent {}-gram covers {f:.3} of characters > {max}", i + 2));
                        }
                    }
                }
                if let Some(limits) = c.max_duplicate_ngram_fraction {
                    for (i, max) in limits.iter().enumerate() {
                        let f = duplicate_ngram_char_fraction(&norm, i + 5, total_chars);
                        if f > *max {
                            return fail("duplicate_ngram_fraction", format!("duplicated {}-grams cover {f:.3} of characters > {max}", i + 5));
                        }
                    }
                }
            }
        }
        if let Some(min) = c.min_stop_words {
            let found: HashSet<String> = words
                .iter()
                .map(|w| w.trim_matches(|ch: char| !ch.is_alphanumeric()).to_lowercase())
                .filter(|w| self.stop_words.contains(w))
                .collect();
            if found.len() < min {
                return fail("stop_words", format!("{} distinct stop words < min_stop_words {min}", found.len()));
            }
        }
        if let Some(ac) = &self.boilerplate {
            if let Some(m) = ac.find(text) {
                return fail("boilerplate", format!("boilerplate phrase {:?}", &text[m.start()..m.end()]));
            }
        }
        None
    }
}

/// Fraction of items equal to an earlier item.
fn duplicate_fraction<'a>(items: impl Iterator<Item = &'a str>) -> f64 {
    let mut seen = HashSet::new();
    let (mut total, mut dup) = (0usize, 0usize);
    for it in items {
        total += 1;
        if !seen.insert(it) {
            dup += 1;
        }
    }
    if total == 0 {
        0.0
    } else {
        dup as f64 / total as f64
    }
}

/// Characters in all occurrences of the most frequent n-gram / all word characters (Gopher).
fn top_ngram_char_fraction(words: &[String], n: usize, total_chars: usize) -> f64 {
    if words.len() < n {
        return 0.0;
    }
    let mut counts: HashMap<&[String], usize> = HashMap::new();
    for g in words.windows(n) {
        *counts.entry(g).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .map(|(g, c)| g.iter().map(|w| w.chars().count()).sum::<usize>() * c)
        .max()
        .map_or(0.0, |chars| chars as f64 / total_chars as f64)
}

/// Characters of words inside any n-gram occurring more than once / all word characters,
/// each word counted once (Gopher).
fn duplicate_ngram_char_fraction(words: &[String], n: usize, total_chars: usize) -> f64 {
    if words.len() < n {
        return 0.0;
    }
    let mut counts: HashMap<&[String], usize> = HashMap::new();
    for g in words.windows(n) {
        *counts.entry(g).or_default() += 1;
    }
    let mut covered = vec![false; words.len()];
    for (i, g) in words.windows(n).enumerate() {
        if counts.get(g).copied().unwrap_or(0) > 1 {
            covered[i..i + n].iter_mut().for_each(|c| *c = true);
        }
    }
    let chars: usize = words
        .iter()
        .zip(&covered)
        .filter(|(_, c)| **c)
        .map(|(w, _)| w.chars().count())
        .sum();
    chars as f64 / total_chars as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(q: Quality) -> QualityFilter {
        QualityFilter::new(&q).expect("builds")
    }

    #[test]
    fn word_count_limits_name_the_value_and_limit() {
        let f = filter(Quality { min_words: Some(3), max_words: Some(5), ..Default::default() });
        let fail = f.check("two words").expect("too short");
        assert_eq!(fail.check, "min_words");
        assert_eq!(fail.reason, "2 words < min_words 3");
        assert!(f.check("one two three").is_none());
        assert_eq!(f.check("a b c d e f").expect("too long").check, "max_words");
    }

    #[test]
    fn repeated_lines_fail_the_duplicate_line_check() {
        let f = filter(Quality { max_duplicate_line_fraction: Some(0.3), ..Default::default() });
        assert_eq!(f.check("buy now\nbuy now\nbuy now\nreal text").expect("dups").check, "duplicate_line_fraction");
        assert!(f.check("a\nb\nc\na").is_none(), "1 of 4 repeated = 0.25");
    }

    #[test]
    fn top_ngram_fraction_matches_hand_count() {
        // "a b" twice in "a b a b c": chars of top 2-gram occurrences = 2*2 = 4 of 5.
        let words: Vec<String> = "a b a b c".split(' ').map(String::from).collect();
        assert!((top_ngram_char_fraction(&words, 2, 5) - 0.8).abs() < 1e-12);
        // duplicated 2-grams "a b" cover words 0..4 → 4 of 5 chars.
        assert!((duplicate_ngram_char_fraction(&words, 2, 5) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn boilerplate_phrases_match_case_insensitively() {
        let f = filter(Quality { boilerplate_phrases: vec!["lorem ipsum".into()], ..Default::default() });
        assert_eq!(f.check("Lorem Ipsum dolor sit amet").expect("boilerplate").check, "boilerplate");
    }

    #[test]
    fn stop_word_check_counts_distinct_words() {
        let f = filter(Quality {
            min_stop_words: Some(2),
            stop_words: vec!["the".into(), "and".into()],
            ..Default::default()
        });
        assert!(f.check("the cat and the dog").is_none());
        assert_eq!(f.check("the the the").expect("one distinct").check, "stop_words");
    }

    #[test]
    fn symbol_heavy_text_fails_alpha_and_symbol_checks() {
        let f = filter(Quality {
            max_symbol_word_ratio: Some(0.1),
            min_alpha_word_fraction: Some(0.8),
            ..Default::default()
        });
        assert_eq!(f.check("# # # heading").expect("symbols").check, "symbol_word_ratio");
        let g = filter(Quality { min_alpha_word_fraction: Some(0.8), ..Default::default() });
        assert_eq!(g.check("1 2 3 4 word").expect("numbers").check, "alpha_word_fraction");
    }
}

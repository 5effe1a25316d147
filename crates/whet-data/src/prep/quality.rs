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
            let words = NormWords::of(text);
            if words.total_chars > 0 {
                let mut grams = NgramCounter::default();
                if let Some(limits) = c.max_top_ngram_fraction {
                    for (i, max) in limits.iter().enumerate() {
                        let f = grams.top_ngram_char_fraction(&words, i + 2);
                        if f > *max {
                            return fail("top_ngram_fraction", format!("most frequent {}-gram covers {f:.3} of characters > {max}", i + 2));
                        }
                    }
                }
                if let Some(limits) = c.max_duplicate_ngram_fraction {
                    for (i, max) in limits.iter().enumerate() {
                        let f = grams.duplicate_ngram_char_fraction(&words, i + 5);
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

/// Lower-cased words with surrounding punctuation trimmed, as 64-bit hashes with their
/// character counts: n-gram repetition works on these instead of strings (one allocation per
/// document instead of one per word and n-gram).
struct NormWords {
    hashes: Vec<u64>,
    /// Prefix sums of word lengths in characters: chars of words[i..j] = prefix[j] - prefix[i].
    prefix: Vec<u64>,
    total_chars: u64,
}

impl NormWords {
    fn of(text: &str) -> Self {
        let lower = text.to_lowercase();
        let mut hashes = Vec::new();
        let mut prefix = vec![0u64];
        for w in lower.split_whitespace() {
            let w = w.trim_matches(|ch: char| !ch.is_alphanumeric());
            if w.is_empty() {
                continue;
            }
            hashes.push(xxhash_rust::xxh3::xxh3_64(w.as_bytes()));
            let last = prefix.last().copied().unwrap_or(0);
            prefix.push(last + w.chars().count() as u64);
        }
        let total_chars = prefix.last().copied().unwrap_or(0);
        NormWords { hashes, prefix, total_chars }
    }

    fn chars(&self, start: usize, n: usize) -> u64 {
        self.prefix[start + n] - self.prefix[start]
    }

    /// Hashes of every n-gram (order-sensitive combination of the word hashes).
    fn ngram_hashes(&self, n: usize, out: &mut Vec<u64>) {
        out.clear();
        if self.hashes.len() < n {
            return;
        }
        for g in self.hashes.windows(n) {
            let mut h: u64 = n as u64;
            for w in g {
                h = (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            }
            out.push(h ^ (h >> 29));
        }
    }
}

/// Hasher for keys that are already well-mixed 64-bit hashes: passes them through (SipHash
/// over them was a sixth of the quality step's time).
#[derive(Default)]
struct PremixedHasher(u64);

impl std::hash::Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Reusable buffers for n-gram counting.
#[derive(Default)]
struct NgramCounter {
    grams: Vec<u64>,
    counts: HashMap<u64, (u32, u32), std::hash::BuildHasherDefault<PremixedHasher>>,
}

impl NgramCounter {
    fn count(&mut self, words: &NormWords, n: usize) {
        words.ngram_hashes(n, &mut self.grams);
        self.counts.clear();
        for (i, g) in self.grams.iter().enumerate() {
            self.counts.entry(*g).or_insert((0, i as u32)).0 += 1;
        }
    }

    /// Characters in all occurrences of the most frequent repeated n-gram / all word
    /// characters (Gopher).
    fn top_ngram_char_fraction(&mut self, words: &NormWords, n: usize) -> f64 {
        self.count(words, n);
        self.counts
            .values()
            .filter(|(c, _)| *c > 1)
            .map(|(c, first)| words.chars(*first as usize, n) * u64::from(*c))
            .max()
            .map_or(0.0, |chars| chars as f64 / words.total_chars as f64)
    }

    /// Characters of words inside any n-gram occurring more than once / all word characters,
    /// each word counted once (Gopher).
    fn duplicate_ngram_char_fraction(&mut self, words: &NormWords, n: usize) -> f64 {
        self.count(words, n);
        let mut covered = vec![false; words.hashes.len()];
        for (i, g) in self.grams.iter().enumerate() {
            if self.counts.get(g).is_some_and(|(c, _)| *c > 1) {
                covered[i..i + n].iter_mut().for_each(|c| *c = true);
            }
        }
        let chars: u64 = covered
            .iter()
            .enumerate()
            .filter(|(_, c)| **c)
            .map(|(i, _)| words.chars(i, 1))
            .sum();
        chars as f64 / words.total_chars as f64
    }
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
        // "a b" twice in "A b, a b c.": chars of top 2-gram occurrences = 2*2 = 4 of 5.
        let words = NormWords::of("A b, a b c.");
        let mut g = NgramCounter::default();
        assert!((g.top_ngram_char_fraction(&words, 2) - 0.8).abs() < 1e-12);
        // duplicated 2-grams "a b" cover words 0..4 → 4 of 5 chars.
        assert!((g.duplicate_ngram_char_fraction(&words, 2) - 0.8).abs() < 1e-12);
        let long = NormWords::of("one two three four five six");
        assert_eq!(g.top_ngram_char_fraction(&long, 2), 0.0);
        assert_eq!(g.duplicate_ngram_char_fraction(&long, 5), 0.0);
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

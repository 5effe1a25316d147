//! Content guidelines: a policy file of categories, each with a word list and regex patterns,
//! and an action: `drop` the record or `flag` it (kept, listed in `flags.jsonl` and counted in
//! the report).
//!
//! The policy file is TOML:
//!
//! ```toml
//! [[category]]
//! name = "violence"
//! action = "drop"          # or "flag"
//! words = ["kill him", "shoot them"]   # whole words, case-insensitive
//! patterns = ['(?i)how (to|do i) make a (bomb|weapon)']
//! ```
//!
//! Word lists are matched with [`TermMatcher`]; patterns with `regex` (no look-around). This is
//! a keyword screen, not a classifier: it finds what the lists name and nothing else.

use std::path::Path;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::config::toml_error;
use super::terms::TermMatcher;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    Drop,
    Flag,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(default)]
    pub category: Vec<Category>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub name: String,
    pub action: PolicyAction,
    #[serde(default)]
    pub words: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
}

pub struct PolicyChecker {
    pub categories: Vec<Category>,
    words: TermMatcher,
    patterns: Vec<(usize, Regex)>,
}

/// A category that matched, with what matched.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyHit {
    pub category: usize,
    pub matched: String,
}

impl PolicyChecker {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            err: source,
        })?;
        let file: PolicyFile = toml::from_str(&text).map_err(|e| toml_error(&e, &text, path))?;
        Self::new(file, path)
    }

    pub fn new(file: PolicyFile, path: &Path) -> Result<Self> {
        let bad = |key: String, message: String| Error::Config {
            path: path.to_path_buf(),
            location: String::new(),
            key,
            message,
        };
        if file.category.is_empty() {
            return Err(bad("category".into(), "no [[category]] tables: the policy would check nothing".into()));
        }
        let mut patterns = Vec::new();
        for (i, c) in file.category.iter().enumerate() {
            if c.words.is_empty() && c.patterns.is_empty() {
                return Err(bad(format!("category[{i}]"), format!("category {:?} has neither `words` nor `patterns`", c.name)));
            }
            for (j, p) in c.patterns.iter().enumerate() {
                let re = Regex::new(p).map_err(|e| bad(format!("category[{i}].patterns[{j}]"), format!("invalid regex: {e}")))?;
                patterns.push((i, re));
            }
        }
        let words = TermMatcher::new(&file.category.iter().map(|c| c.words.clone()).collect::<Vec<_>>())
            .map_err(|e| bad("category.words".into(), e))?;
        Ok(PolicyChecker {
            categories: file.category,
            words,
            patterns,
        })
    }

    /// The first hit of each category that matches `text`, in category order.
    pub fn check(&self, text: &str) -> Vec<PolicyHit> {
        let mut first: Vec<Option<String>> = vec![None; self.categories.len()];
        let lower = text.to_lowercase();
        self.words.for_each_match(&lower, |g, term| {
            if first[g].is_none() {
                first[g] = Some(term.to_string());
            }
        });
        for (c, re) in &self.patterns {
            if first[*c].is_none() {
                if let Some(m) = re.find(text) {
                    first[*c] = Some(m.as_str().to_string());
                }
            }
        }
        first
            .into_iter()
            .enumerate()
            .filter_map(|(category, m)| m.map(|matched| PolicyHit { category, matched }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(toml_text: &str) -> Result<PolicyChecker> {
        let f: PolicyFile = toml::from_str(toml_text).map_err(|e| toml_error(&e, toml_text, Path::new("policy.toml")))?;
        PolicyChecker::new(f, Path::new("policy.toml"))
    }

    #[test]
    fn words_and_patterns_hit_their_categories() {
        let c = checker(
            "[[category]]\nname = \"weapons\"\naction = \"drop\"\npatterns = ['(?i)make a bomb']\n\
             [[category]]\nname = \"profanity\"\naction = \"flag\"\nwords = [\"darn\"]\n",
        )
        .expect("valid");
        let hits = c.check("How do I make a BOMB, darn it");
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].category, 0);
        assert_eq!(hits[1].matched, "darn");
        assert!(c.check("darning socks").is_empty());
    }

    #[test]
    fn bad_policy_files_name_the_key() {
        let e = checker("[[category]]\nname = \"x\"\naction = \"drop\"\npatterns = ['(unclosed']\n").err().expect("bad regex").to_string();
        assert!(e.contains("category[0].patterns[0]") && e.contains("invalid regex"), "{e}");
        let e = checker("[[category]]\nname = \"x\"\naction = \"drop\"\nwordz = [\"a\"]\n").err().expect("unknown key").to_string();
        assert!(e.contains("did you mean `words`?"), "{e}");
    }
}

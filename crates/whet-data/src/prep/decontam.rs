//! Decontamination: drop training records that share a long word n-gram (13 by default, as in
//! GPT-3's contamination study) with any record of the given evaluation sets.
//!
//! Words are lower-cased runs of letters and digits; each n-gram is hashed with xxh3-64 into
//! one set for all eval files. Eval records shorter than `n` words contribute no n-gram and so
//! cannot be matched (a known limitation of n-gram decontamination; use a smaller `ngram` for
//! short eval questions).

use std::collections::HashSet;
use std::path::PathBuf;

use xxhash_rust::xxh3::xxh3_64;

use super::config::Decontamination;
use crate::formats::{parse, Format};
use crate::records::read_all_objects;
use crate::{Error, Result};

pub struct Decontaminator {
    n: usize,
    grams: HashSet<u64>,
    pub eval_records: usize,
    pub eval_sets: Vec<PathBuf>,
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

fn gram_hash(ws: &[String]) -> u64 {
    xxh3_64(ws.join(" ").as_bytes())
}

impl Decontaminator {
    pub fn load(cfg: &Decontamination) -> Result<Self> {
        let mut d = Decontaminator {
            n: cfg.ngram,
            grams: HashSet::new(),
            eval_records: 0,
            eval_sets: cfg.eval_sets.clone(),
        };
        for path in &cfg.eval_sets {
            for (line, obj) in read_all_objects(path)? {
                let parsed = parse(Format::Auto, obj).map_err(|message| Error::Malformed {
                    path: path.clone(),
                    line,
                    message,
                })?;
                d.add(&parsed.record.full_text());
                d.eval_records += 1;
            }
        }
        Ok(d)
    }

    fn add(&mut self, text: &str) {
        let ws = words(text);
        for g in ws.windows(self.n) {
            self.grams.insert(gram_hash(g));
        }
    }

    /// The first shared n-gram, if any.
    pub fn check(&self, text: &str) -> Option<String> {
        let ws = words(text);
        ws.windows(self.n).find(|g| self.grams.contains(&gram_hash(g))).map(|g| g.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_thirteen_gram_is_found_and_twelve_shared_words_are_not() {
        let mut d = Decontaminator { n: 13, grams: HashSet::new(), eval_records: 0, eval_sets: vec![] };
        d.add("Question: what is the boiling point of water at sea level in degrees celsius exactly?");
        let hit = d.check("Trivia. WHAT is the boiling point of water at sea level, in degrees Celsius exactly? 100.");
        assert_eq!(hit.as_deref(), Some("what is the boiling point of water at sea level in degrees celsius"));
        assert!(d.check("the boiling point of water at sea level in degrees celsius exactly").is_none());
    }
}

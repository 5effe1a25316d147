//! Contamination check: which eval records share a word n-gram (13 words by default) with the
//! training data, using data prep's decontamination code (`whet_data::prep::decontam`, the same
//! words and hashing) in the other direction: the training files' n-grams are the set, each eval
//! record's full text (prompt, reference, choices, term and definition) is checked against it.
//! Eval records shorter than `n` words cannot match, as in data prep.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use whet_data::prep::config::Decontamination;
use whet_data::prep::decontam::Decontaminator;

use crate::error::{Error, Result};
use crate::eval_data::Item;

/// The n-grams of the training data.
pub struct TrainingNgrams {
    inner: Decontaminator,
    pub files: Vec<PathBuf>,
    pub records: usize,
    pub ngram: usize,
}

/// One eval set's overlap with the training data.
#[derive(Debug, Clone, Serialize)]
pub struct Overlap {
    pub records: usize,
    pub contaminated: usize,
    pub share: f64,
    /// Line and the first shared n-gram of the first few contaminated records.
    pub examples: Vec<(usize, String)>,
}

const EXAMPLES: usize = 3;

impl TrainingNgrams {
    pub fn load(files: &[PathBuf], ngram: usize) -> Result<Self> {
        let inner = Decontaminator::load(&Decontamination { eval_sets: files.to_vec(), ngram })?;
        Ok(TrainingNgrams { records: inner.eval_records, inner, files: files.to_vec(), ngram })
    }

    pub fn overlap(&self, items: &[Item]) -> Overlap {
        let mut contaminated = 0;
        let mut examples = Vec::new();
        for item in items {
            if let Some(gram) = self.inner.check(&item.record.full_text()) {
                contaminated += 1;
                if examples.len() < EXAMPLES {
                    examples.push((item.line, gram));
                }
            }
        }
        Overlap { records: items.len(), contaminated, share: contaminated as f64 / items.len().max(1) as f64, examples }
    }
}

/// The training data files a `whet train` run read (`data.train` of its `run.json`); relative
/// paths are taken relative to the run directory's parent when they do not exist as given.
pub fn training_files_of_run(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let path = run_dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let run: Value = serde_json::from_str(&text).map_err(|e| Error::Config { path: path.clone(), message: format!("not valid JSON ({e})") })?;
    let train = run["data"]["train"]["path"].as_str().ok_or_else(|| Error::Config { path: path.clone(), message: "no `data.train.path`; is this a whet train run directory?".into() })?;
    let file = PathBuf::from(train);
    if file.is_relative() && !file.exists() {
        if let Some(parent) = run_dir.parent() {
            return Ok(vec![parent.join(file)]);
        }
    }
    Ok(vec![file])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval_data::Record;

    #[test]
    fn a_shared_thirteen_gram_is_found_and_a_shorter_overlap_is_not() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io { path: "tmp".into(), source })?;
        let train = dir.path().join("train.jsonl");
        let text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
        std::fs::write(&train, format!("{}\n", serde_json::json!({"text": text}))).map_err(|source| Error::Io { path: train.clone(), source })?;
        let grams = TrainingNgrams::load(&[train], 13)?;
        let item = |line, text: &str| Item { line, record: Record::Text { text: text.into() } };
        let items = [
            item(1, "Two three four five six seven eight nine ten eleven twelve thirteen fourteen!"),
            item(2, "one two three four five six seven eight nine ten eleven twelve"),
        ];
        let o = grams.overlap(&items);
        assert_eq!((o.records, o.contaminated), (2, 1));
        assert_eq!(o.examples, [(1, "two three four five six seven eight nine ten eleven twelve thirteen fourteen".to_string())]);
        Ok(())
    }
}

//! `whet review export`: a blind review set from a `whet eval` output directory. For each sample
//! of the chosen sets, the answers of two variants to the same prompt are shown as "Answer 1" and
//! "Answer 2" in a seeded random order, with the items shuffled too, so that a reviewer sees
//! neither which variant wrote an answer nor a pattern in where it sits. Written to a new
//! directory:
//!
//! - `review.html`: a self-contained page (no network, no external files) in which a reviewer
//!   rates each answer 1-5, flags hallucinations, picks the better answer (or a tie) and downloads
//!   their labels as JSONL; work in progress is kept in the browser's local storage.
//! - `items.jsonl`: the same blind items, for other tools.
//! - `key.json`: which variant wrote which answer. Keep it from the reviewers;
//!   `whet review import` ([`crate::review_import`]) reads it to unblind the labels.
//!
//! Samples whose two answers are identical are left out (nothing to compare) unless asked for.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The page, with `/*WHET_REVIEW_DATA*/null` to be replaced by the review's JSON.
const PAGE: &str = include_str!("review_page.html");
const DATA_SLOT: &str = "/*WHET_REVIEW_DATA*/null";

pub struct ExportOptions {
    /// A `whet eval` output directory (with `report.json` and `samples/`).
    pub eval_dir: PathBuf,
    /// The two variants to compare, by their names in the eval config.
    pub variants: [String; 2],
    /// Eval sets to draw from (generation and glossary sets); empty: all of them.
    pub sets: Vec<String>,
    /// At most this many items per set (after shuffling).
    pub limit: Option<usize>,
    pub seed: u64,
    /// Keep samples whose two answers are the same text.
    pub include_identical: bool,
    /// A new (or empty) directory.
    pub out: PathBuf,
    pub whet_version: String,
}

/// One blind item: what reviewers see and what the labels refer to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewItem {
    pub id: String,
    pub set: String,
    /// The conversation up to the answer (chat messages).
    pub prompt: Vec<Value>,
    pub reference: Option<String>,
    /// Glossary sets: the term asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// "Answer 1" and "Answer 2".
    pub answers: [String; 2],
}

/// Which variant wrote which answer of each item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewKey {
    pub whet_version: String,
    /// Labels carry it, so labels of another review set are recognised.
    pub review_id: String,
    pub eval_dir: String,
    pub variants: [String; 2],
    pub seed: u64,
    pub items: Vec<KeyEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    pub id: String,
    pub set: String,
    /// The sample's index in `samples/<set>/<variant>.jsonl` and its eval-set line.
    pub index: usize,
    pub line: usize,
    /// The variants that wrote answer 1 and answer 2.
    pub order: [String; 2],
}

#[derive(Debug, Clone, Default)]
pub struct ExportSummary {
    /// Items written per set.
    pub per_set: Vec<(String, usize)>,
    pub identical_skipped: usize,
    pub review_id: String,
}

/// The eval report's view of its sets: what `export` needs from `report.json`.
#[derive(Deserialize)]
struct EvalReport {
    variants: Vec<NamedVariant>,
    sets: Vec<EvalSet>,
}
#[derive(Deserialize)]
struct NamedVariant {
    name: String,
}
#[derive(Deserialize)]
struct EvalSet {
    name: String,
    kind: String,
}

pub fn export(opts: &ExportOptions) -> Result<ExportSummary> {
    let dir = &opts.eval_dir;
    let report_path = dir.join("report.json");
    let text = std::fs::read_to_string(&report_path).map_err(|e| Error::Config {
        path: report_path.clone(),
        message: format!("cannot read it ({e}); give the output directory of `whet eval`"),
    })?;
    let report: EvalReport = serde_json::from_str(&text).map_err(|e| Error::Config { path: report_path.clone(), message: format!("not a `whet eval` report ({e})") })?;
    let names: Vec<&str> = report.variants.iter().map(|v| v.name.as_str()).collect();
    for v in &opts.variants {
        if !names.contains(&v.as_str()) {
            return Err(Error::Config { path: report_path.clone(), message: format!("no variant `{v}`; this eval has {}", names.join(", ")) });
        }
    }
    if opts.variants[0] == opts.variants[1] {
        return Err(Error::Config { path: report_path, message: format!("both variants are `{}`; name two different ones", opts.variants[0]) });
    }
    let reviewable: Vec<&EvalSet> = report.sets.iter().filter(|s| s.kind == "generation" || s.kind == "glossary").collect();
    let chosen: Vec<&EvalSet> = if opts.sets.is_empty() {
        reviewable.clone()
    } else {
        opts.sets
            .iter()
            .map(|name| match report.sets.iter().find(|s| &s.name == name) {
                Some(s) if s.kind == "generation" || s.kind == "glossary" => Ok(s),
                Some(s) => Err(format!("set `{name}` is a {} set; only generation and glossary sets have answers to review", s.kind)),
                None => Err(format!("no eval set `{name}`; this eval has {}", report.sets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "))),
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|message| Error::Config { path: report_path.clone(), message })?
    };
    if chosen.is_empty() {
        return Err(Error::Config { path: report_path, message: "no generation or glossary set to review".into() });
    }
    check_output_dir(&opts.out)?;

    let mut rng = StdRng::seed_from_u64(opts.seed);
    let review_id = format!("{:016x}", rng.random::<u64>());
    let mut summary = ExportSummary { review_id: review_id.clone(), ..Default::default() };
    let (mut items, mut keys) = (Vec::new(), Vec::new());
    for set in chosen {
        let [a, b] = [0, 1].map(|i| read_samples(&dir.join("samples").join(&set.name).join(format!("{}.jsonl", opts.variants[i]))));
        let (a, b) = (a?, b?);
        if a.len() != b.len() {
            return Err(Error::Config {
                path: dir.join("samples").join(&set.name),
                message: format!("{} has {} samples but {} has {}; both variants must have answered the same records", opts.variants[0], a.len(), opts.variants[1], b.len()),
            });
        }
        let mut pairs = Vec::new();
        for (sa, sb) in a.iter().zip(&b) {
            let (answer_a, answer_b) = (str_field(sa, "answer"), str_field(sb, "answer"));
            if answer_a == answer_b && !opts.include_identical {
                summary.identical_skipped += 1;
                continue;
            }
            pairs.push((sa, answer_a, answer_b));
        }
        pairs.shuffle(&mut rng);
        pairs.truncate(opts.limit.unwrap_or(usize::MAX));
        for (sample, answer_a, answer_b) in pairs.iter().cloned() {
            let index = sample["index"].as_u64().unwrap_or_default() as usize;
            let Some(prompt) = sample["messages"].as_array().cloned() else {
                return Err(Error::Config {
                    path: dir.join("samples").join(&set.name),
                    message: "the samples have no `messages` (written by an older whet); run `whet eval` again".into(),
                });
            };
            let id = format!("{}-{index}", set.name);
            let swap = rng.random::<bool>();
            let (answers, order) = if swap {
                ([answer_b, answer_a], [opts.variants[1].clone(), opts.variants[0].clone()])
            } else {
                ([answer_a, answer_b], opts.variants.clone())
            };
            items.push(ReviewItem {
                id: id.clone(),
                set: set.name.clone(),
                prompt,
                reference: sample["reference"].as_str().map(str::to_string),
                term: sample["term"].as_str().map(str::to_string),
                answers,
            });
            keys.push(KeyEntry { id, set: set.name.clone(), index, line: sample["line"].as_u64().unwrap_or_default() as usize, order });
        }
        summary.per_set.push((set.name.clone(), pairs.len()));
    }
    // One shuffle across sets too, the key in the same order.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.shuffle(&mut rng);
    let items: Vec<ReviewItem> = order.iter().map(|&i| items[i].clone()).collect();
    let keys: Vec<KeyEntry> = order.iter().map(|&i| keys[i].clone()).collect();

    let key = ReviewKey {
        whet_version: opts.whet_version.clone(),
        review_id: review_id.clone(),
        eval_dir: dir.display().to_string(),
        variants: opts.variants.clone(),
        seed: opts.seed,
        items: keys,
    };
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.clone(), source })?;
    let lines: String = items.iter().map(|i| serde_json::to_string(i).expect("serialisable") + "\n").collect();
    write(&out.join("items.jsonl"), &lines)?;
    write(&out.join("key.json"), &(serde_json::to_string_pretty(&key).expect("serialisable") + "\n"))?;
    write(&out.join("review.html"), &page(&review_id, &items))?;
    Ok(summary)
}

/// The page with the review's items in it. `<` is escaped in the JSON so that no answer can
/// close the script element (`</script>` inside an answer stays text).
pub fn page(review_id: &str, items: &[ReviewItem]) -> String {
    let data = serde_json::json!({"review": review_id, "items": items}).to_string().replace('<', "\\u003c");
    PAGE.replacen(DATA_SLOT, &data, 1)
}

/// A `samples/<set>/<variant>.jsonl` file of `whet eval`.
fn read_samples(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| Error::Malformed { path: path.to_path_buf(), line: i + 1, message: format!("not valid JSON ({e})") }))
        .collect()
}

fn str_field(sample: &Value, key: &str) -> String {
    sample[key].as_str().unwrap_or_default().to_string()
}

/// Refuses a directory with files in it, so that no earlier review set or labels are overwritten.
pub(crate) fn check_output_dir(out: &Path) -> Result<()> {
    let has_files = std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(false);
    if has_files {
        return Err(Error::OutputExists { path: out.to_path_buf() });
    }
    Ok(())
}

pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

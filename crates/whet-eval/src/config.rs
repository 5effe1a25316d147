//! The `whet eval` config: a TOML file with the output directory, the model variants to compare
//! (the first is the baseline), the eval sets, and the training data to check them against for
//! contamination. Read once and validated here, with errors that name the file, the line (from
//! the TOML parser) or the key; relative paths are relative to the config file's directory.
//!
//! ```toml
//! output_dir = "../runs/eval"
//! training_data = ["../assets/sample-data/train.jsonl"]
//!
//! [[variants]]
//! name = "base"
//! model = "../assets/base-model"
//!
//! [[variants]]
//! name = "sft"
//! model = "../assets/base-model"
//! adapter = "../runs/quickstart/sft/adapter"
//!
//! [[eval_sets]]
//! name = "test"
//! kind = "generation"
//! path = "../assets/sample-data/test.jsonl"
//! metrics = ["exact_match", "f1", "rougeL"]
//! ```
//!
//! A variant may also be a model served behind an OpenAI-compatible endpoint (`endpoint` and
//! `model_name`): answers come from its chat completions (its server applies its own chat
//! template), so it takes part in generation and glossary sets only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use whet_data::prep::config::{lexical_join, with_suggestion};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Where the report and the per-sample records go; must not exist or be empty.
    pub output_dir: PathBuf,
    /// A chat template (built-in name or Jinja file) used for every variant instead of the
    /// models' own; needed when the variants' own templates differ.
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Longest generated answer, in tokens.
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// The forgetting check flags a variant whose score on a `general` set falls more than this
    /// below the baseline's (in the metric's own units: 0.05 is five points of accuracy; for
    /// perplexity sets, nats per token).
    #[serde(default = "default_forgetting_margin")]
    pub forgetting_margin: f64,
    /// Training data (JSONL or Parquet, any supported format) to check the eval sets against.
    #[serde(default)]
    pub training_data: Vec<PathBuf>,
    /// A `whet train` run directory: its `run.json` names the training data.
    #[serde(default)]
    pub training_run: Option<PathBuf>,
    /// Word n-gram length of the contamination check (13, as data prep's decontamination).
    #[serde(default = "default_ngram")]
    pub ngram: usize,
    #[serde(default)]
    pub uncertainty: Uncertainty,
    /// An LLM that compares each variant's answers with the baseline's.
    #[serde(default)]
    pub pairwise_judge: Option<PairwiseJudge>,
    pub variants: Vec<Variant>,
    pub eval_sets: Vec<EvalSetConfig>,
}

/// `[pairwise_judge]`: a model behind an OpenAI-compatible endpoint judges, for every sample of
/// the generation and glossary sets (or `sets`), each variant's answer against the baseline's,
/// in both orders (see [`crate::pairwise`]). Each variant gets the metric `pairwise_win_rate`
/// (1 a win, 0.5 a tie or inconsistent verdicts, 0 a loss; the baseline against itself is 0.5
/// throughout), with its interval and paired test like every other metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairwiseJudge {
    /// The API base, e.g. `http://127.0.0.1:8000/v1`.
    pub endpoint: String,
    /// The model name sent to the endpoint.
    pub model: String,
    /// The system prompt (default [`crate::pairwise::DEFAULT_PAIRWISE_RUBRIC`]).
    #[serde(default)]
    pub rubric: Option<String>,
    /// Eval sets to judge (generation or glossary); default: all of them.
    #[serde(default)]
    pub sets: Option<Vec<String>>,
}

impl PairwiseJudge {
    /// Whether `set` is judged.
    pub fn judges(&self, set: &EvalSetConfig) -> bool {
        matches!(set.kind, Kind::Generation | Kind::Glossary) && self.sets.as_ref().is_none_or(|names| names.contains(&set.name))
    }
}

/// Bootstrap intervals and paired tests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Uncertainty {
    /// Bootstrap resamples per interval.
    pub resamples: usize,
    /// Random sign patterns per paired permutation test.
    pub permutations: usize,
    /// Intervals have coverage `1 - alpha`; a difference is significant when `p < alpha`.
    pub alpha: f64,
    pub seed: u64,
}

impl Default for Uncertainty {
    fn default() -> Self {
        Uncertainty { resamples: 1000, permutations: 10_000, alpha: 0.05, seed: 12345 }
    }
}

/// One model variant: a model directory, optionally with a LoRA adapter; or a model served
/// behind an OpenAI-compatible endpoint (generation and glossary sets only: the others need
/// the model's log-likelihoods).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// A Hugging Face model directory.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// A PEFT adapter directory applied to `model`.
    #[serde(default)]
    pub adapter: Option<PathBuf>,
    /// The API base of a served model, e.g. `http://127.0.0.1:8000/v1`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The model name sent to `endpoint`.
    #[serde(default)]
    pub model_name: Option<String>,
}

impl Variant {
    /// What the variant is, for reports: the model directory (+ adapter) or the endpoint.
    pub fn describe(&self) -> String {
        match (&self.model, &self.endpoint) {
            (Some(m), _) => format!("{}{}", m.display(), self.adapter.as_ref().map(|a| format!(" + {}", a.display())).unwrap_or_default()),
            (None, Some(e)) => format!("`{}` at {e}", self.model_name.as_deref().unwrap_or_default()),
            (None, None) => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Generation,
    Perplexity,
    MultipleChoice,
    Glossary,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Generation => "generation",
            Kind::Perplexity => "perplexity",
            Kind::MultipleChoice => "multiple_choice",
            Kind::Glossary => "glossary",
        }
    }
}

/// A generation metric, scored per sample against the reference answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GenerationMetric {
    #[serde(rename = "exact_match")]
    ExactMatch,
    #[serde(rename = "f1")]
    F1,
    #[serde(rename = "rouge1")]
    Rouge1,
    #[serde(rename = "rouge2")]
    Rouge2,
    #[serde(rename = "rougeL")]
    RougeL,
    #[serde(rename = "bleu")]
    Bleu,
    #[serde(rename = "chrf")]
    Chrf,
}

impl GenerationMetric {
    pub fn name(self) -> &'static str {
        match self {
            GenerationMetric::ExactMatch => "exact_match",
            GenerationMetric::F1 => "f1",
            GenerationMetric::Rouge1 => "rouge1",
            GenerationMetric::Rouge2 => "rouge2",
            GenerationMetric::RougeL => "rougeL",
            GenerationMetric::Bleu => "bleu",
            GenerationMetric::Chrf => "chrf",
        }
    }
}

/// How a glossary definition is judged correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Judge {
    /// SQuAD token F1 against the reference definition, at least `threshold`.
    #[serde(rename = "f1")]
    F1,
    /// ROUGE-L F-measure against the reference definition, at least `threshold`.
    #[serde(rename = "rougeL")]
    RougeL,
    /// Every keyword of the term appears in the answer (case-insensitive).
    #[serde(rename = "keywords")]
    Keywords,
    /// A model behind an OpenAI-compatible endpoint grades the answer against the reference
    /// (`judge_endpoint`, `judge_model`, optional `judge_rubric`).
    #[serde(rename = "llm")]
    Llm,
}

impl Judge {
    pub fn name(self) -> &'static str {
        match self {
            Judge::F1 => "f1",
            Judge::RougeL => "rougeL",
            Judge::Keywords => "keywords",
            Judge::Llm => "llm",
        }
    }
}

/// One `[[eval_sets]]` table as written; [`EvalConfig::load`] checks that only the keys of its
/// `kind` are set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSetConfig {
    pub name: String,
    pub kind: Kind,
    /// JSONL file of the set's records.
    pub path: PathBuf,
    /// A general-ability set: part of the forgetting check.
    #[serde(default)]
    pub general: bool,
    /// Use only the first N records.
    #[serde(default)]
    pub limit: Option<usize>,
    /// `generation` only: which metrics (default exact_match and f1).
    #[serde(default)]
    pub metrics: Option<Vec<GenerationMetric>>,
    /// `glossary`: the question, with `{term}` (default "What is {term}?"); `multiple_choice`:
    /// the context, with `{question}` (default "Question: {question}\nAnswer:").
    #[serde(default)]
    pub prompt: Option<String>,
    /// `glossary` only (default f1).
    #[serde(default)]
    pub judge: Option<Judge>,
    /// `glossary` with the f1 or rougeL judge: the least score judged correct (default 0.5).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// `glossary` with the llm judge: the API base, e.g. `http://127.0.0.1:8000/v1`.
    #[serde(default)]
    pub judge_endpoint: Option<String>,
    /// `glossary` with the llm judge: the model name sent to the endpoint.
    #[serde(default)]
    pub judge_model: Option<String>,
    /// `glossary` with the llm judge: the system prompt (default [`DEFAULT_JUDGE_RUBRIC`]).
    #[serde(default)]
    pub judge_rubric: Option<String>,
}

/// The llm judge's instructions; its reply's first word is the verdict.
pub const DEFAULT_JUDGE_RUBRIC: &str = "You grade an answer that defines a domain term, against the reference \
definition. Reply with one word: CORRECT if the answer says what the reference says (in any words) and nothing \
that the reference contradicts or lacks; CONTRADICTS if it asserts something the reference contradicts; \
UNSUPPORTED if it asserts something the reference does not say, without contradicting it; WRONG if it is empty, \
off topic or does not define the term.";

/// Where the llm judge is.
#[derive(Debug, Clone)]
pub struct LlmJudge {
    pub endpoint: String,
    pub model: String,
    pub rubric: String,
}

pub const DEFAULT_GLOSSARY_PROMPT: &str = "What is {term}?";
pub const DEFAULT_CHOICE_PROMPT: &str = "Question: {question}\nAnswer:";
const DEFAULT_METRICS: [GenerationMetric; 2] = [GenerationMetric::ExactMatch, GenerationMetric::F1];

/// An eval set's task, validated.
#[derive(Debug, Clone)]
pub enum Task {
    Generation { metrics: Vec<GenerationMetric> },
    Perplexity,
    MultipleChoice { prompt: String },
    Glossary { prompt: String, judge: Judge, threshold: f64, llm: Option<LlmJudge> },
}

fn default_max_new_tokens() -> usize {
    64
}
fn default_forgetting_margin() -> f64 {
    0.05
}
fn default_ngram() -> usize {
    13
}

impl EvalConfig {
    /// Reads and validates `path`; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, path, path.parent().unwrap_or(Path::new(".")))
    }

    /// [`EvalConfig::load`] for text in memory: `path` names it in errors, `base` anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self> {
        let err = |message: String| Error::Config { path: path.to_path_buf(), message };
        let mut c: EvalConfig = toml::from_str(text).map_err(|e| err(with_suggestion(e.to_string().trim())))?;
        c.validate().map_err(err)?;
        let rel = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = lexical_join(base, p);
            }
        };
        rel(&mut c.output_dir);
        c.training_data.iter_mut().for_each(rel);
        c.training_run.iter_mut().for_each(rel);
        for v in &mut c.variants {
            v.model.iter_mut().for_each(rel);
            v.adapter.iter_mut().for_each(rel);
        }
        for s in &mut c.eval_sets {
            rel(&mut s.path);
        }
        if let Some(t) = &c.chat_template {
            // A built-in name stays as it is; a file is anchored like the other paths.
            if t.ends_with(".jinja") || t.contains('/') {
                c.chat_template = Some(base.join(t).display().to_string());
            }
        }
        Ok(c)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.variants.is_empty() {
            return Err("`variants` is empty; add at least one [[variants]] with a name and a model".into());
        }
        if self.eval_sets.is_empty() {
            return Err("`eval_sets` is empty; add at least one [[eval_sets]] with a name, kind and path".into());
        }
        unique("variants", self.variants.iter().map(|v| v.name.as_str()))?;
        unique("eval_sets", self.eval_sets.iter().map(|s| s.name.as_str()))?;
        if !(self.forgetting_margin >= 0.0 && self.forgetting_margin.is_finite()) {
            return Err(format!("`forgetting_margin` is {}; it must be a finite number >= 0", self.forgetting_margin));
        }
        if self.ngram == 0 {
            return Err("`ngram` is 0; it must be at least 1 (13 is data prep's default)".into());
        }
        if self.max_new_tokens == 0 {
            return Err("`max_new_tokens` is 0; it must be at least 1".into());
        }
        let u = &self.uncertainty;
        if !(u.alpha > 0.0 && u.alpha < 1.0) {
            return Err(format!("`uncertainty.alpha` is {}; it must lie strictly between 0 and 1 (0.05 for 95% intervals)", u.alpha));
        }
        if u.resamples == 0 || u.permutations == 0 {
            return Err("`uncertainty.resamples` and `uncertainty.permutations` must be at least 1".into());
        }
        for (i, s) in self.eval_sets.iter().enumerate() {
            s.task().map_err(|m| format!("eval_sets[{i}] (`{}`): {m}", s.name))?;
        }
        if let Some(j) = &self.pairwise_judge {
            if !(j.endpoint.starts_with("http://") || j.endpoint.starts_with("https://")) {
                return Err(format!("`pairwise_judge.endpoint` = {:?} is not an http(s) URL; give the API base, e.g. http://127.0.0.1:8000/v1", j.endpoint));
            }
            if self.variants.len() < 2 {
                return Err("`pairwise_judge` compares variants with the first (the baseline); add a second [[variants]]".into());
            }
            for name in j.sets.iter().flatten() {
                match self.eval_sets.iter().find(|s| &s.name == name) {
                    Some(s) if matches!(s.kind, Kind::Generation | Kind::Glossary) => {}
                    Some(s) => return Err(format!("`pairwise_judge.sets`: `{name}` is a {} set; only generation and glossary sets have answers to compare", s.kind.name())),
                    None => return Err(format!("`pairwise_judge.sets`: no eval set `{name}`")),
                }
            }
        }
        for (i, v) in self.variants.iter().enumerate() {
            let at = |m: String| format!("variants[{i}] (`{}`): {m}", v.name);
            match (&v.model, &v.endpoint) {
                (Some(_), None) => {
                    if v.model_name.is_some() {
                        return Err(at("`model_name` goes with `endpoint`; a local variant has only `model` and `adapter`".into()));
                    }
                }
                (None, Some(e)) => {
                    if v.adapter.is_some() {
                        return Err(at("`adapter` needs a local `model`; a served variant's adapter is the server's business".into()));
                    }
                    if v.model_name.is_none() {
                        return Err(at("`endpoint` needs `model_name`, the model name the server knows".into()));
                    }
                    if !(e.starts_with("http://") || e.starts_with("https://")) {
                        return Err(at(format!("`endpoint` = {e:?} is not an http(s) URL; give the API base, e.g. http://127.0.0.1:8000/v1")));
                    }
                    if let Some(s) = self.eval_sets.iter().find(|s| matches!(s.kind, Kind::Perplexity | Kind::MultipleChoice)) {
                        return Err(at(format!("a served variant cannot be scored on `{}` ({}): it needs the model's log-likelihoods; evaluate a local model directory instead", s.name, s.kind.name())));
                    }
                }
                _ => return Err(at("give either `model` (a model directory, optionally with `adapter`) or `endpoint` with `model_name`".into())),
            }
        }
        Ok(())
    }

    /// The forgetting check's baseline.
    pub fn baseline(&self) -> &Variant {
        &self.variants[0]
    }
}

impl EvalSetConfig {
    /// The validated task: refuses keys that do not apply to the set's kind.
    pub fn task(&self) -> std::result::Result<Task, String> {
        let kind = self.kind.name();
        let refuse = |key: &str, set: bool| if set { Err(format!("`{key}` does not apply to kind = \"{kind}\"")) } else { Ok(()) };
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(format!("`name` = {:?} cannot name a directory; use letters, digits, - and _", self.name));
        }
        if self.kind != Kind::Glossary || self.judge != Some(Judge::Llm) {
            refuse("judge_endpoint", self.judge_endpoint.is_some())?;
            refuse("judge_model", self.judge_model.is_some())?;
            refuse("judge_rubric", self.judge_rubric.is_some())?;
        }
        if self.limit == Some(0) {
            return Err("`limit` is 0; leave it out to use every record".into());
        }
        match self.kind {
            Kind::Generation => {
                refuse("prompt", self.prompt.is_some())?;
                refuse("judge", self.judge.is_some())?;
                refuse("threshold", self.threshold.is_some())?;
                let mut metrics = self.metrics.clone().unwrap_or_else(|| DEFAULT_METRICS.to_vec());
                if metrics.is_empty() {
                    return Err("`metrics` is empty; choose from exact_match, f1, rouge1, rouge2, rougeL, bleu, chrf".into());
                }
                let n = metrics.len();
                metrics.sort();
                metrics.dedup();
                if metrics.len() != n {
                    return Err("`metrics` lists a metric twice".into());
                }
                Ok(Task::Generation { metrics })
            }
            Kind::Perplexity => {
                refuse("metrics", self.metrics.is_some())?;
                refuse("prompt", self.prompt.is_some())?;
                refuse("judge", self.judge.is_some())?;
                refuse("threshold", self.threshold.is_some())?;
                Ok(Task::Perplexity)
            }
            Kind::MultipleChoice => {
                refuse("metrics", self.metrics.is_some())?;
                refuse("judge", self.judge.is_some())?;
                refuse("threshold", self.threshold.is_some())?;
                let prompt = self.prompt.clone().unwrap_or_else(|| DEFAULT_CHOICE_PROMPT.into());
                if !prompt.contains("{question}") {
                    return Err(format!("`prompt` = {prompt:?} has no {{question}} slot"));
                }
                Ok(Task::MultipleChoice { prompt })
            }
            Kind::Glossary => {
                refuse("metrics", self.metrics.is_some())?;
                let prompt = self.prompt.clone().unwrap_or_else(|| DEFAULT_GLOSSARY_PROMPT.into());
                if !prompt.contains("{term}") {
                    return Err(format!("`prompt` = {prompt:?} has no {{term}} slot"));
                }
                let judge = self.judge.unwrap_or(Judge::F1);
                if matches!(judge, Judge::Keywords | Judge::Llm) {
                    refuse("threshold", self.threshold.is_some())?;
                }
                let threshold = self.threshold.unwrap_or(0.5);
                if !(0.0..=1.0).contains(&threshold) {
                    return Err(format!("`threshold` is {threshold}; it must lie between 0 and 1"));
                }
                let llm = match (judge, &self.judge_endpoint, &self.judge_model) {
                    (Judge::Llm, Some(endpoint), Some(model)) => {
                        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                            return Err(format!("`judge_endpoint` = {endpoint:?} is not an http(s) URL; give the API base, e.g. http://127.0.0.1:8000/v1"));
                        }
                        Some(LlmJudge { endpoint: endpoint.clone(), model: model.clone(), rubric: self.judge_rubric.clone().unwrap_or_else(|| DEFAULT_JUDGE_RUBRIC.into()) })
                    }
                    (Judge::Llm, _, _) => return Err("judge = \"llm\" needs `judge_endpoint` (an OpenAI-compatible API base) and `judge_model`".into()),
                    _ => None,
                };
                Ok(Task::Glossary { prompt, judge, threshold, llm })
            }
        }
    }
}

fn unique<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> std::result::Result<(), String> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("`{what}`: the name `{name}` is used twice; names must be unique"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
output_dir = "out"
training_data = ["train.jsonl"]

[[variants]]
name = "base"
model = "models/base"

[[variants]]
name = "tuned"
model = "models/base"
adapter = "adapters/a"

[[eval_sets]]
name = "qa"
kind = "generation"
path = "qa.jsonl"
metrics = ["exact_match", "rougeL", "bleu"]

[[eval_sets]]
name = "terms"
kind = "glossary"
path = "glossary.jsonl"
judge = "keywords"
general = false
"#;

    fn parse(text: &str) -> Result<EvalConfig> {
        EvalConfig::parse(text, Path::new("eval.toml"), Path::new("/cfg"))
    }

    #[test]
    fn a_good_config_resolves_paths_against_its_directory() -> Result<()> {
        let c = parse(GOOD)?;
        assert_eq!(c.output_dir, Path::new("/cfg/out"));
        assert_eq!(c.variants[1].adapter.as_deref(), Some(Path::new("/cfg/adapters/a")));
        assert_eq!(c.variants[0].model.as_deref(), Some(Path::new("/cfg/models/base")));
        assert_eq!(c.eval_sets[0].path, Path::new("/cfg/qa.jsonl"));
        assert_eq!((c.ngram, c.max_new_tokens, c.uncertainty.resamples), (13, 64, 1000));
        match c.eval_sets[0].task() {
            Ok(Task::Generation { metrics }) => {
                assert_eq!(metrics, [GenerationMetric::ExactMatch, GenerationMetric::RougeL, GenerationMetric::Bleu])
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.eval_sets[1].task(), Ok(Task::Glossary { judge: Judge::Keywords, .. })));
        Ok(())
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("accepted: {c:?}"),
        }
    }

    #[test]
    fn an_unknown_metric_is_an_error_naming_the_line() {
        let e = error(&GOOD.replace("\"bleu\"]", "\"meteor\"]"));
        assert!(e.starts_with("eval.toml: ") && e.contains("line 18") && e.contains("meteor") && e.contains("rougeL"), "{e}");
    }

    #[test]
    fn unknown_and_misplaced_keys_are_errors() {
        let e = error(&GOOD.replace("general = false", "genral = false"));
        assert!(e.contains("unknown field `genral`") && e.contains("did you mean `general`"), "{e}");
        let e = error(&GOOD.replace("judge = \"keywords\"", "metrics = [\"f1\"]"));
        assert!(e.contains("eval_sets[1] (`terms`): `metrics` does not apply to kind = \"glossary\""), "{e}");
        let e = error(&GOOD.replace("judge = \"keywords\"", "judge = \"keywords\"\nthreshold = 0.3"));
        assert!(e.contains("`threshold` does not apply"), "{e}");
        let e = error(&GOOD.replace("name = \"tuned\"", "name = \"base\""));
        assert!(e.contains("`base` is used twice"), "{e}");
        let e = error(&GOOD.replace("kind = \"generation\"", "kind = \"summaries\""));
        assert!(e.contains("summaries") && e.contains("multiple_choice"), "{e}");
        let e = error(&GOOD.replace("judge = \"keywords\"", "judge = \"llm\""));
        assert!(e.contains("needs `judge_endpoint`"), "{e}");
        let e = error(&GOOD.replace("judge = \"keywords\"", "judge = \"f1\"\njudge_model = \"m\""));
        assert!(e.contains("`judge_model` does not apply"), "{e}");
        let llm = GOOD.replace("judge = \"keywords\"", "judge = \"llm\"\njudge_endpoint = \"http://127.0.0.1:8000/v1\"\njudge_model = \"m\"");
        assert!(matches!(parse(&llm).map(|c| c.eval_sets[1].task()), Ok(Ok(Task::Glossary { llm: Some(_), .. }))));
        let served = "name = \"tuned\"\nendpoint = \"http://127.0.0.1:8000/v1\"\nmodel_name = \"m\"\n\n[[eval";
        assert!(parse(&GOOD.replacen("name = \"tuned\"\nmodel = \"models/base\"\nadapter = \"adapters/a\"\n\n[[eval", served, 1)).is_ok());
        let e = error(&GOOD.replace("name = \"tuned\"\nmodel = \"models/base\"", "name = \"tuned\"\nendpoint = \"http://x/v1\"\nmodel_name = \"m\""));
        assert!(e.contains("variants[1] (`tuned`): `adapter` needs a local `model`"), "{e}");
        let e = error(&format!("{}\n[[eval_sets]]\nname = \"ppl\"\nkind = \"perplexity\"\npath = \"v.jsonl\"\n", GOOD.replacen("name = \"tuned\"\nmodel = \"models/base\"\nadapter = \"adapters/a\"\n\n[[eval", served, 1)));
        assert!(e.contains("cannot be scored on `ppl` (perplexity)"), "{e}");
        let e = error(&GOOD.replace("model = \"models/base\"\nadapter", "adapter"));
        assert!(e.contains("give either `model`"), "{e}");
        let e = error("output_dir = \"x\"\nvariants = []\neval_sets = []\n");
        assert!(e.contains("`variants` is empty"), "{e}");
    }
}

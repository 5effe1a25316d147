//! `whet data prefs`: preference pairs from AI feedback. A stronger and a weaker answerer (local
//! models, one base with two adapters, or OpenAI-compatible endpoints) answer the same prompts,
//! greedily or sampled `--samples` times each; a judge picks one pair per prompt:
//!
//! - `strong`: the stronger answerer's first answer is chosen, the weaker's first answer that
//!   differs from it rejected (the distilled-DPO assumption);
//! - `reference`: of all the answers, the one with the highest SQuAD token F1 against the
//!   record's reference answer is chosen and the lowest rejected (with `--no-weak` and
//!   `--samples` ≥ 2: best-of-n against worst-of-n of one model);
//! - `llm`: a judge model behind an OpenAI-compatible endpoint compares the two first answers
//!   (shown in a seeded random order, against position bias) with a rubric.
//!
//! Pairs are written in TRL's conversational layout with a `provenance` object saying who
//! answered, how, and why which side won; prompts without a usable pair (identical answers, a
//! tie, no verdict) are skipped and counted. The file is written as `*.partial` and renamed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use whet_eval::openai_client::{ChatEndpoint, ChatRequest};
use whet_eval::pairwise::{judge_pair, Pick, DEFAULT_PAIRWISE_RUBRIC};
use whet_eval::{f1_score, sample_answers, AnswerOptions};
use whet_models::{GenerationConfig, SamplingParams};

use crate::model_source::{Loaded, ModelArgs};

#[derive(clap::Args, Debug)]
pub struct PrefsArgs {
    /// JSONL of `messages` records. A final assistant turn is the reference answer (used by
    /// `--judge reference`, shown to `--judge llm`) and is not part of the prompt.
    #[arg(long, value_name = "FILE")]
    pub prompts: PathBuf,
    /// The stronger answerer: a model directory, or the base URL of an OpenAI-compatible API
    /// (`http://127.0.0.1:8000/v1`; then `--strong-model` names the model).
    #[arg(long, value_name = "DIR|URL")]
    pub strong: String,
    /// A LoRA adapter on the stronger model directory.
    #[arg(long, value_name = "DIR")]
    pub strong_adapter: Option<PathBuf>,
    /// The model name to request from the --strong endpoint.
    #[arg(long, value_name = "NAME")]
    pub strong_model: Option<String>,
    /// The weaker answerer, as --strong (default: the --strong model directory without adapter).
    #[arg(long, value_name = "DIR|URL", conflicts_with = "no_weak")]
    pub weak: Option<String>,
    /// A LoRA adapter on the weaker model directory.
    #[arg(long, value_name = "DIR", conflicts_with = "no_weak")]
    pub weak_adapter: Option<PathBuf>,
    /// The model name to request from the --weak endpoint.
    #[arg(long, value_name = "NAME", conflicts_with = "no_weak")]
    pub weak_model: Option<String>,
    /// Only the stronger answerer's samples compete (needs --judge reference or llm, and
    /// --samples of at least 2).
    #[arg(long)]
    pub no_weak: bool,
    /// Who decides which answer is chosen: `strong`, `reference` (token F1 against the reference
    /// answer) or `llm` (a judge model at --judge-endpoint).
    #[arg(long, default_value = "strong", value_parser = ["strong", "reference", "llm"])]
    pub judge: String,
    /// The judge's OpenAI-compatible API base URL (`--judge llm`).
    #[arg(long, value_name = "URL")]
    pub judge_endpoint: Option<String>,
    /// The judge's model name.
    #[arg(long, value_name = "NAME", default_value = "judge")]
    pub judge_model: String,
    /// A text file with the judge's instructions (default: a rubric for correctness and
    /// faithfulness to the reference that asks for one letter, A or B).
    #[arg(long, value_name = "FILE")]
    pub judge_rubric: Option<PathBuf>,
    /// Answers per answerer and prompt.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Sampling temperature (0: greedy; more than one sample needs > 0).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Seed of the sampling (each prompt and sample derives its own) and of the judge's order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Output JSONL of pairs (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Who answers, and how it is described in provenance.
pub struct Answerer {
    kind: AnswererKind,
    pub name: String,
}

enum AnswererKind {
    Local { loaded: Box<Loaded>, eos: Vec<u32> },
    Endpoint(ChatEndpoint),
}

/// How answers are drawn.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    pub samples: usize,
    pub temperature: f32,
    pub top_p: Option<f32>,
    pub seed: u64,
    pub max_new_tokens: usize,
}

impl Answerer {
    pub fn local(model: &Path, adapter: Option<&Path>) -> Result<Self> {
        let loaded = ModelArgs::local(model, adapter).load()?;
        let eos = loaded.eos_token_ids(&GenerationConfig::read(model)?);
        let name = match adapter {
            Some(a) => format!("{} + adapter {}", model.display(), a.display()),
            None => model.display().to_string(),
        };
        Ok(Self { kind: AnswererKind::Local { loaded: Box::new(loaded), eos }, name })
    }

    /// A model directory (with an optional adapter) or an endpoint URL (with a model name).
    fn from_flags(spec: &str, adapter: Option<&Path>, model: Option<&str>, flag: &str) -> Result<Self> {
        if ChatEndpoint::is_url(spec) {
            if adapter.is_some() {
                bail!("--{flag}-adapter is for a model directory; for the endpoint {spec} name the adapter with --{flag}-model");
            }
            let model = model.with_context(|| format!("--{flag} {spec} is an endpoint: say which model with --{flag}-model"))?;
            return Ok(Self { kind: AnswererKind::Endpoint(ChatEndpoint::new(spec, model)), name: format!("{spec} model {model}") });
        }
        if model.is_some() {
            bail!("--{flag}-model names a model on an endpoint; --{flag} {spec} is a directory");
        }
        Self::local(Path::new(spec), adapter)
    }

    /// `s.samples` answers to `prompt`; sample `k` of the prompt on line `line` has its own seed.
    fn answers(&self, prompt: &[Value], line: usize, s: &Sampling) -> Result<Vec<String>> {
        let seed = s.seed.wrapping_add((line as u64).wrapping_mul(1_000_003));
        match &self.kind {
            AnswererKind::Local { loaded, eos } => {
                let sampling = SamplingParams { temperature: s.temperature, top_p: s.top_p, seed, ..Default::default() };
                let opts = AnswerOptions { max_new_tokens: s.max_new_tokens, eos_token_ids: eos.clone(), sampling };
                Ok(sample_answers(&loaded.model, &loaded.tokenizer, prompt, &opts, s.samples)?)
            }
            AnswererKind::Endpoint(e) => (0..s.samples as u64)
                .map(|k| Ok(e.complete(prompt, &ChatRequest { max_tokens: s.max_new_tokens, temperature: s.temperature, top_p: s.top_p, seed: seed.wrapping_add(k) })?))
                .collect(),
        }
    }
}

/// How the chosen answer is picked.
pub enum Judge {
    Strong,
    Reference,
    Llm { endpoint: ChatEndpoint, rubric: String },
}

impl Judge {
    fn name(&self) -> &'static str {
        match self {
            Judge::Strong => "strong",
            Judge::Reference => "reference",
            Judge::Llm { .. } => "llm",
        }
    }
}

/// One answer and who gave it (`true`: the stronger answerer).
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    text: String,
    strong: bool,
}

/// The pair a judge picked, with the judge's scores for provenance; or why there is none.
#[derive(Debug, PartialEq)]
enum Verdict {
    Pair { chosen: Candidate, rejected: Candidate, scores: Option<(f64, f64)> },
    Skip(&'static str),
}

/// `strong`: the stronger side's first answer against the weaker side's first that differs.
fn judge_strong(candidates: &[Candidate]) -> Verdict {
    let Some(first) = candidates.iter().find(|c| c.strong) else { return Verdict::Skip("no answer") };
    match candidates.iter().find(|c| !c.strong && c.text.trim() != first.text.trim()) {
        Some(weak) => Verdict::Pair { chosen: first.clone(), rejected: weak.clone(), scores: None },
        None => Verdict::Skip("identical answers"),
    }
}

/// `reference`: highest token F1 against worst (the first of equals wins, stronger side first).
fn judge_reference(candidates: &[Candidate], reference: Option<&str>) -> Verdict {
    let Some(reference) = reference else { return Verdict::Skip("no reference answer") };
    let scored: Vec<(f64, &Candidate)> = candidates.iter().map(|c| (f1_score(&c.text, reference), c)).collect();
    let best = scored.iter().fold(None::<&(f64, &Candidate)>, |b, x| if b.is_none_or(|b| x.0 > b.0) { Some(x) } else { b });
    let worst = scored.iter().fold(None::<&(f64, &Candidate)>, |w, x| if w.is_none_or(|w| x.0 < w.0) { Some(x) } else { w });
    match (best, worst) {
        (Some(b), Some(w)) if b.0 > w.0 => Verdict::Pair { chosen: b.1.clone(), rejected: w.1.clone(), scores: Some((b.0, w.0)) },
        (Some(_), Some(_)) if candidates.iter().all(|c| c.text.trim() == candidates[0].text.trim()) => Verdict::Skip("identical answers"),
        _ => Verdict::Skip("tie"),
    }
}

/// Builds pairs for every prompt; returns them and the counted skips.
pub fn make_pairs(
    prompts: &[Prompt],
    source: &Path,
    strong: &Answerer,
    weak: Option<&Answerer>,
    judge: &Judge,
    sampling: &Sampling,
    progress: bool,
) -> Result<(Vec<Value>, BTreeMap<&'static str, usize>)> {
    let bar = if progress { indicatif::ProgressBar::new(prompts.len() as u64) } else { indicatif::ProgressBar::hidden() };
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} prompt {pos}/{len} [{bar:30}] eta {eta}") {
        bar.set_style(style);
    }
    let mut order_rng = StdRng::seed_from_u64(sampling.seed ^ 0x5EED_0F0D);
    let (mut pairs, mut skipped) = (Vec::new(), BTreeMap::<&'static str, usize>::new());
    for p in prompts {
        let mut candidates: Vec<Candidate> = strong.answers(&p.messages, p.line, sampling)?.into_iter().map(|text| Candidate { text, strong: true }).collect();
        if let Some(w) = weak {
            candidates.extend(w.answers(&p.messages, p.line, sampling)?.into_iter().map(|text| Candidate { text, strong: false }));
        }
        let verdict = match judge {
            Judge::Strong => judge_strong(&candidates),
            Judge::Reference => judge_reference(&candidates, p.reference.as_deref()),
            Judge::Llm { endpoint, rubric } => judge_llm(endpoint, rubric, p, &candidates, order_rng.random())?,
        };
        bar.inc(1);
        let (chosen, rejected, scores) = match verdict {
            Verdict::Pair { chosen, rejected, scores } => (chosen, rejected, scores),
            Verdict::Skip(why) => {
                *skipped.entry(why).or_default() += 1;
                continue;
            }
        };
        let by = |c: &Candidate| match weak {
            Some(w) if !c.strong => w.name.clone(),
            _ => strong.name.clone(),
        };
        let mut provenance = json!({
            "source": format!("{}:{}", source.display(), p.line),
            "judge": judge.name(),
            "chosen_by": by(&chosen),
            "rejected_by": by(&rejected),
            "samples": sampling.samples,
            "temperature": sampling.temperature,
            "seed": sampling.seed,
        });
        if let Some((c, r)) = scores {
            provenance["f1_chosen"] = json!(c);
            provenance["f1_rejected"] = json!(r);
        }
        pairs.push(json!({
            "prompt": p.messages,
            "chosen": [{"role": "assistant", "content": chosen.text}],
            "rejected": [{"role": "assistant", "content": rejected.text}],
            "provenance": provenance,
        }));
    }
    bar.finish_and_clear();
    Ok((pairs, skipped))
}

/// `llm`: the judge sees the question, the reference (if any) and two answers, in the order
/// `swap` gives: each side's first answer, or with one side only its first two samples.
fn judge_llm(endpoint: &ChatEndpoint, rubric: &str, p: &Prompt, candidates: &[Candidate], swap: bool) -> Result<Verdict> {
    let pair = match (candidates.iter().find(|c| c.strong), candidates.iter().find(|c| !c.strong)) {
        (Some(s), Some(w)) => Some((s, w)),
        _ => candidates.first().zip(candidates.get(1)),
    };
    let Some((s, w)) = pair.filter(|(s, w)| s.text.trim() != w.text.trim()) else {
        return Ok(Verdict::Skip("identical answers"));
    };
    let (a, b) = if swap { (w, s) } else { (s, w) };
    let question = p.messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or_default();
    let (pick, _) = judge_pair(endpoint, rubric, question, p.reference.as_deref(), &a.text, &b.text)?;
    Ok(match pick {
        Some(Pick::A) => Verdict::Pair { chosen: a.clone(), rejected: b.clone(), scores: None },
        Some(Pick::B) => Verdict::Pair { chosen: b.clone(), rejected: a.clone(), scores: None },
        Some(Pick::Tie) => Verdict::Skip("tie"),
        None => Verdict::Skip("no verdict from the judge"),
    })
}

pub fn run(args: PrefsArgs) -> Result<()> {
    if args.out.exists() {
        bail!("{}: already exists; choose another --out (nothing is overwritten)", args.out.display());
    }
    if args.samples == 0 || (args.samples > 1 && args.temperature <= 0.0) {
        bail!("--samples {} with --temperature {}: more than one sample per answerer needs a temperature above 0 (greedy answers repeat)", args.samples, args.temperature);
    }
    if args.no_weak && (args.judge == "strong" || args.samples < 2) {
        bail!("--no-weak compares the stronger answerer's own samples: it needs --judge reference or llm and --samples of at least 2");
    }
    let prompts = read_prompts(&args.prompts)?;
    if args.judge == "reference" && prompts.iter().all(|p| p.reference.is_none()) {
        bail!("{}: --judge reference needs records that end with an assistant answer; none do", args.prompts.display());
    }
    let judge = match args.judge.as_str() {
        "strong" => Judge::Strong,
        "reference" => Judge::Reference,
        _ => {
            let url = args.judge_endpoint.as_deref().context("--judge llm needs --judge-endpoint URL (an OpenAI-compatible API base)")?;
            let rubric = match &args.judge_rubric {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
                None => DEFAULT_PAIRWISE_RUBRIC.to_string(),
            };
            Judge::Llm { endpoint: ChatEndpoint::new(url, &args.judge_model), rubric }
        }
    };
    let strong = Answerer::from_flags(&args.strong, args.strong_adapter.as_deref(), args.strong_model.as_deref(), "strong")?;
    let weak = if args.no_weak {
        None
    } else {
        let spec = args.weak.clone().unwrap_or_else(|| args.strong.clone());
        let model = args.weak_model.as_deref().or(if args.weak.is_none() { args.strong_model.as_deref() } else { None });
        Some(Answerer::from_flags(&spec, args.weak_adapter.as_deref(), model, "weak")?)
    };
    let sampling = Sampling { samples: args.samples, temperature: args.temperature, top_p: args.top_p, seed: args.seed, max_new_tokens: args.max_new_tokens };
    let (pairs, skipped) = make_pairs(&prompts, &args.prompts, &strong, weak.as_ref(), &judge, &sampling, true)?;
    write_jsonl(&args.out, &pairs)?;
    let skipped_text: Vec<String> = skipped.iter().map(|(why, n)| format!("{n} {why}")).collect();
    println!(
        "wrote {} pairs from {} prompts to {}{}",
        pairs.len(),
        prompts.len(),
        args.out.display(),
        if skipped_text.is_empty() { String::new() } else { format!(" (skipped: {})", skipped_text.join(", ")) }
    );
    Ok(())
}

/// Writes one JSON value per line to `path` via `path.partial` and a rename.
pub fn write_jsonl(path: &Path, rows: &[Value]) -> Result<()> {
    let tmp = path.with_extension("jsonl.partial");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
    for row in rows {
        writeln!(file, "{row}").with_context(|| format!("writing {}", tmp.display()))?;
    }
    file.flush().with_context(|| format!("writing {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// A prompt: its messages up to the last user turn, and the reference answer if it had one.
pub struct Prompt {
    pub line: usize,
    pub messages: Vec<Value>,
    pub reference: Option<String>,
}

pub fn read_prompts(path: &Path) -> Result<Vec<Prompt>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut prompts = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", path.display(), i + 1);
        let record: Value = serde_json::from_str(line).with_context(|| format!("{}: not valid JSON", at()))?;
        let Some(mut messages) = record.get("messages").and_then(Value::as_array).cloned() else {
            bail!("{}: needs a `messages` list (the prompt, optionally ending with a reference answer)", at());
        };
        let reference = match messages.last() {
            Some(m) if m["role"] == "assistant" => {
                let r = m["content"].as_str().map(str::to_string);
                messages.pop();
                r
            }
            _ => None,
        };
        if messages.last().is_none_or(|m| m["role"] != "user") {
            bail!("{}: the prompt must end with a user message", at());
        }
        prompts.push(Prompt { line: i + 1, messages, reference });
    }
    if prompts.is_empty() {
        bail!("{}: no prompts", path.display());
    }
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str, strong: bool) -> Candidate {
        Candidate { text: text.into(), strong }
    }

    #[test]
    fn judges_pick_skip_and_score() {
        assert_eq!(judge_strong(&[c("Blue.", true), c(" Blue. ", false)]), Verdict::Skip("identical answers"));
        assert_eq!(judge_strong(&[c("Blue.", true), c("Blue.", false), c("Green.", false)]), Verdict::Pair { chosen: c("Blue.", true), rejected: c("Green.", false), scores: None });
        assert_eq!(judge_reference(&[c("Blue.", true), c("Green.", false)], None), Verdict::Skip("no reference answer"));
        assert_eq!(
            judge_reference(&[c("It is green.", true), c("It is blue.", false)], Some("blue")),
            Verdict::Pair { chosen: c("It is blue.", false), rejected: c("It is green.", true), scores: Some((0.5, 0.0)) }
        );
        assert_eq!(judge_reference(&[c("red", true), c("green", false)], Some("blue")), Verdict::Skip("tie"));
        // Best of n against worst of n, one side only.
        assert_eq!(
            judge_reference(&[c("green", true), c("blue sky", true), c("blue", true)], Some("blue")),
            Verdict::Pair { chosen: c("blue", true), rejected: c("green", true), scores: Some((1.0, 0.0)) }
        );
    }
}

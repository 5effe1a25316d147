//! `whet eval`: every variant on every eval set, top to bottom. Setup (read and check every eval
//! set, the variants' directories, the training data, the output directory) happens before any
//! model is loaded, so a bad input fails in seconds. Then, per variant: load the model (with its
//! adapter) and evaluate each set with the same prompts and the same chat template. Last, the
//! output directory is written: each sample's record in `samples/<set>/<variant>.jsonl`, the
//! config, and the summary ([`crate::report`]: intervals, paired tests against the first variant,
//! the forgetting check, contamination) as `report.json`, `report.md` and `report.html`. Nothing
//! is written before every variant has run, so a run that fails leaves no half-filled directory
//! behind.
//!
//! Answers are greedy (deterministic); the chat template is the models' own (they must agree)
//! or the config's `chat_template` for all. A served variant answers through its endpoint's chat
//! completions at temperature 0 (its server's template; its samples record the messages sent).
//! An llm glossary judge is asked once per answer, at temperature 0; a `[pairwise_judge]` twice
//! per answer of each variant after the first (both orders), once every variant has run.

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde_json::{json, Value};
use whet_data::{tokenize_chat, tokenize_text, ChatTemplate, ModelTokenizer};
use whet_models::{CausalLm, GenerationConfig};

use crate::answer::{answer, AnswerOptions};
use crate::bleu::{sentence_bleu, BleuOptions};
use crate::chrf::{sentence_chrf, ChrfOptions};
use crate::config::{EvalConfig, EvalSetConfig, GenerationMetric, PairwiseJudge, Task, Variant};
use crate::contamination::{training_files_of_run, Overlap, TrainingNgrams};
use crate::error::{Error, Result};
use crate::eval_data::{read_set, Item, Record};
use crate::glossary;
use crate::multiple_choice;
use crate::openai_client::{ChatEndpoint, ChatRequest};
use crate::pairwise::{judge_both_orders, Outcome, DEFAULT_PAIRWISE_RUBRIC};
use crate::report::{self, Report};
use crate::rouge::Rouge;
use crate::score::score_tokenized;
use crate::squad::{exact_match, f1_score};

pub struct RunOptions<'a> {
    pub config: EvalConfig,
    /// The config file as written, copied into the output directory.
    pub config_text: String,
    /// `whet --version`, recorded in the report.
    pub whet_version: String,
    /// Called with a line of progress ("base: test (70 records)").
    pub progress: &'a dyn Fn(&str),
}

/// An eval set, read and checked.
pub struct LoadedSet {
    pub config: EvalSetConfig,
    pub task: Task,
    pub items: Vec<Item>,
    /// SHA-256 of the file, recorded in the report.
    pub sha256: String,
}

/// Per-sample values of one metric on one set for one variant.
#[derive(Debug, Clone)]
pub struct MetricValues {
    pub name: &'static str,
    pub higher_is_better: bool,
    /// One value per sample: the metric's score, or a summed quantity when `weights` is set.
    pub values: Vec<f64>,
    /// The metric is `sum(values) / sum(weights)` (NLL per token: weights are token counts);
    /// `None` for a plain mean.
    pub weights: Option<Vec<f64>>,
    /// Shown as `exp` of the ratio (perplexity from NLL per token).
    pub exp: bool,
}

/// What one variant produced on one set.
#[derive(Debug, Clone)]
pub struct SetRun {
    pub metrics: Vec<MetricValues>,
    /// Per-sample records, as written to the samples file.
    pub samples: Vec<Value>,
}

pub fn run(opts: &RunOptions) -> Result<Report> {
    let config = &opts.config;
    let progress = opts.progress;

    // Setup: everything is checked before the first model loads.
    let out = &config.output_dir;
    if out.exists() && std::fs::read_dir(out).map_err(|source| Error::Io { path: out.clone(), source })?.next().is_some() {
        return Err(Error::OutputExists { path: out.clone() });
    }
    for (i, v) in config.variants.iter().enumerate() {
        check_variant(i, v)?;
    }
    let mut sets = Vec::new();
    for s in &config.eval_sets {
        let task = s.task().map_err(|message| Error::Config { path: s.path.clone(), message })?;
        let keywords = matches!(task, Task::Glossary { judge: crate::config::Judge::Keywords, .. });
        let items = read_set(&s.path, s.kind, s.limit, keywords)?;
        let sha256 = whet_data::file_sha256(&s.path).map_err(|source| Error::Io { path: s.path.clone(), source })?;
        sets.push(LoadedSet { config: s.clone(), task, items, sha256 });
    }
    let mut training_files = config.training_data.clone();
    if let Some(run_dir) = &config.training_run {
        training_files.extend(training_files_of_run(run_dir)?);
    }
    let contamination: Option<(TrainingNgrams, Vec<Overlap>)> = if training_files.is_empty() {
        None
    } else {
        progress(&format!("contamination: {}-grams of {} training file(s)", config.ngram, training_files.len()));
        let grams = TrainingNgrams::load(&training_files, config.ngram)?;
        let overlaps = sets.iter().map(|s| grams.overlap(&s.items)).collect();
        Some((grams, overlaps))
    };
    // Each variant on each set.
    let mut runs: Vec<Vec<SetRun>> = Vec::new(); // [variant][set]
    let mut template: Option<(String, String, String)> = None; // (variant, origin, source)
    for v in &config.variants {
        progress(&format!("{}: {}", v.name, v.describe()));
        let backend = match (&v.model, &v.endpoint) {
            (Some(dir), _) => {
                let (model, tok, eos) = load_variant(dir, v.adapter.as_deref(), config.chat_template.as_deref())?;
                if let Ok(t) = tok.chat_template() {
                    match &template {
                        None => template = Some((v.name.clone(), t.origin().to_string(), t.source().to_string())),
                        Some((first, origin, source)) if source != t.source() => {
                            return Err(Error::ChatTemplateMismatch { first: first.clone(), first_origin: origin.clone(), other: v.name.clone(), other_origin: t.origin().to_string() });
                        }
                        Some(_) => {}
                    }
                }
                let answers = AnswerOptions { max_new_tokens: config.max_new_tokens, eos_token_ids: eos, sampling: Default::default() };
                Backend::Local { model, tok, answers }
            }
            (None, endpoint) => Backend::Served {
                endpoint: ChatEndpoint::new(endpoint.as_deref().unwrap_or_default(), v.model_name.as_deref().unwrap_or_default()),
                request: ChatRequest { max_tokens: config.max_new_tokens, temperature: 0.0, top_p: None, seed: 0 },
            },
        };
        let mut per_set = Vec::new();
        for s in &sets {
            progress(&format!("{}: {} ({} {} records)", v.name, s.config.name, s.items.len(), s.config.kind.name()));
            per_set.push(evaluate_set(&backend, s)?);
        }
        runs.push(per_set);
    }

    if let Some(judge) = &config.pairwise_judge {
        for (si, s) in sets.iter().enumerate().filter(|(_, s)| judge.judges(&s.config)) {
            progress(&format!("pairwise judge: {} ({} records, each variant against {})", s.config.name, s.items.len(), config.baseline().name));
            judge_pairwise(judge, &config.baseline().name, &mut runs, si)?;
        }
    }

    // Written once everything has run, so a failed run leaves no half-filled output directory.
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    for (si, s) in sets.iter().enumerate() {
        let dir = out.join("samples").join(&s.config.name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for (v, per_set) in config.variants.iter().zip(&runs) {
            let path = dir.join(format!("{}.jsonl", v.name));
            let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
            for sample in &per_set[si].samples {
                writeln!(file, "{sample}").map_err(io(&path))?;
            }
            file.flush().map_err(io(&path))?;
        }
    }
    let config_copy = out.join("config.toml");
    std::fs::write(&config_copy, &opts.config_text).map_err(io(&config_copy))?;

    let report = report::summarise(config, &opts.whet_version, &sets, &runs, contamination.as_ref(), template.map(|t| t.1))?;
    let json_path = out.join("report.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Config { path: json_path.clone(), message: e.to_string() })?;
    std::fs::write(&json_path, text).map_err(io(&json_path))?;
    let md_path = out.join("report.md");
    std::fs::write(&md_path, report.markdown()).map_err(io(&md_path))?;
    let html_path = out.join("report.html");
    std::fs::write(&html_path, report.html()).map_err(io(&html_path))?;
    Ok(report)
}

/// Where a variant's answers come from.
enum Backend {
    Local { model: CausalLm, tok: ModelTokenizer, answers: AnswerOptions },
    /// Generation and glossary sets only (checked with the config).
    Served { endpoint: ChatEndpoint, request: ChatRequest },
}

impl Backend {
    /// The prompt as the model sees it (rendered through the chat template; for a served model,
    /// the messages as sent) and the greedy answer.
    fn answer(&self, messages: &[Value]) -> Result<(String, String)> {
        match self {
            Backend::Local { model, tok, answers } => Ok((tok.render_chat(messages, true)?, answer(model, tok, messages, answers)?)),
            Backend::Served { endpoint, request } => Ok((Value::from(messages.to_vec()).to_string(), endpoint.complete(messages, request)?)),
        }
    }

    fn local(&self) -> Result<(&CausalLm, &ModelTokenizer)> {
        match self {
            Backend::Local { model, tok, .. } => Ok((model, tok)),
            Backend::Served { endpoint, .. } => Err(Error::Endpoint { url: endpoint.base_url.clone(), message: "a served variant has no log-likelihoods".into() }),
        }
    }
}

fn check_variant(i: usize, v: &Variant) -> Result<()> {
    let bad = |message: String| Error::Config { path: PathBuf::from(format!("variants[{i}] (`{}`)", v.name)), message };
    if v.name.is_empty() || v.name.contains(['/', '\\']) || v.name.starts_with('.') {
        return Err(bad(format!("`name` = {:?} cannot name a file; use letters, digits, - and _", v.name)));
    }
    let Some(model) = &v.model else { return Ok(()) };
    if !model.join("config.json").is_file() {
        return Err(bad(format!("`model` = {}: not a Hugging Face model directory (no config.json)", model.display())));
    }
    if let Some(a) = &v.adapter {
        if !a.join("adapter_config.json").is_file() {
            return Err(bad(format!("`adapter` = {}: not a PEFT adapter directory (no adapter_config.json)", a.display())));
        }
    }
    Ok(())
}

/// The model (with its adapter), the tokenizer (the adapter's when it has one, as training
/// saved it) and the end-of-sequence ids.
fn load_variant(dir: &Path, adapter: Option<&Path>, chat_template: Option<&str>) -> Result<(CausalLm, ModelTokenizer, Vec<u32>)> {
    let mut model = CausalLm::load(dir, DType::F32, &Device::Cpu)?;
    let mut tokenizer_dir = dir.to_path_buf();
    if let Some(adapter) = adapter {
        whet_adapter::load_adapter(&mut model, adapter)?;
        if adapter.join("tokenizer.json").is_file() {
            tokenizer_dir = adapter.to_path_buf();
        }
    }
    let mut tok = ModelTokenizer::load(&tokenizer_dir)?;
    if let Some(choice) = chat_template {
        tok.set_chat_template(ChatTemplate::from_choice(choice)?);
    }
    let mut eos = GenerationConfig::read(dir)?.eos_token_ids;
    if eos.is_empty() {
        eos = model.config.eos_token_ids.clone();
    }
    if eos.is_empty() {
        eos.extend(tok.eos_token_id());
    }
    Ok((model, tok, eos))
}

fn metric(name: &'static str, values: Vec<f64>) -> MetricValues {
    MetricValues { name, higher_is_better: true, values, weights: None, exp: false }
}

fn evaluate_set(backend: &Backend, set: &LoadedSet) -> Result<SetRun> {
    let path = &set.config.path;
    let at = |item: &Item| {
        let path = path.clone();
        let line = item.line;
        move |e: Error| Error::Malformed { path, line, message: e.to_string() }
    };
    let mut samples = Vec::new();
    let metrics = match &set.task {
        Task::Generation { metrics } => {
            let rouge = Rouge::new(false);
            let mut values: Vec<Vec<f64>> = vec![Vec::new(); metrics.len()];
            for (index, item) in set.items.iter().enumerate() {
                let Record::Generation { prompt, reference } = &item.record else { continue };
                let (rendered, output) = backend.answer(prompt).map_err(at(item))?;
                let parsed = output.trim();
                let mut scores = serde_json::Map::new();
                for (m, column) in metrics.iter().zip(values.iter_mut()) {
                    let s = generation_score(*m, &rouge, parsed, reference)?;
                    scores.insert(m.name().into(), json!(s));
                    column.push(s);
                }
                samples.push(json!({"index": index, "line": item.line, "messages": prompt, "prompt": rendered, "output": output, "answer": parsed, "reference": reference, "scores": scores}));
            }
            metrics.iter().zip(values).map(|(m, v)| metric(m.name(), v)).collect()
        }
        Task::Perplexity => {
            let (model, tok) = backend.local()?;
            let (mut nll, mut tokens) = (Vec::new(), Vec::new());
            for (index, item) in set.items.iter().enumerate() {
                let (rendered, tokenized) = match &item.record {
                    Record::Text { text } => (text.clone(), tokenize_text(tok, text).map_err(|e| at(item)(e.into()))?),
                    Record::Chat { messages } => (
                        tok.render_chat(messages, false).map_err(|e| at(item)(e.into()))?,
                        tokenize_chat(tok, messages).map_err(|e| at(item)(e.into()))?,
                    ),
                    _ => continue,
                };
                let (n, s) = score_tokenized(model, &tokenized).map_err(at(item))?;
                if n == 0 {
                    return Err(at(item)(Error::NoScores { what: "perplexity: this record has no scored tokens (no assistant turn, or one token of text)" }));
                }
                samples.push(json!({"index": index, "line": item.line, "prompt": rendered, "n_tokens": n, "nll": s, "scores": {"nll_per_token": s / n as f64}}));
                nll.push(s);
                tokens.push(n as f64);
            }
            vec![MetricValues { name: "perplexity", higher_is_better: false, values: nll, weights: Some(tokens), exp: true }]
        }
        Task::MultipleChoice { prompt } => {
            let (model, tok) = backend.local()?;
            let (mut acc, mut acc_norm) = (Vec::new(), Vec::new());
            for (index, item) in set.items.iter().enumerate() {
                let Record::Choice { question, choices, gold } = &item.record else { continue };
                let context = multiple_choice::context(prompt, question);
                let s = multiple_choice::score_choices(model, tok, &context, choices).map_err(at(item))?;
                let (a, an) = (f64::from(u8::from(s.pick == *gold)), f64::from(u8::from(s.pick_norm == *gold)));
                samples.push(json!({
                    "index": index, "line": item.line, "prompt": context, "choices": choices, "gold": gold,
                    "loglikelihoods": s.loglikelihoods, "answer": choices[s.pick], "answer_norm": choices[s.pick_norm],
                    "reference": choices[*gold], "scores": {"acc": a, "acc_norm": an},
                }));
                acc.push(a);
                acc_norm.push(an);
            }
            vec![metric("acc", acc), metric("acc_norm", acc_norm)]
        }
        Task::Glossary { prompt, judge, threshold, llm } => {
            let (mut hi, mut judge_scores, mut hallucinated) = (Vec::new(), Vec::new(), Vec::new());
            for (index, item) in set.items.iter().enumerate() {
                let Record::Term { term, definition, keywords } = &item.record else { continue };
                let messages = [json!({"role": "user", "content": glossary::question(prompt, term)})];
                let (rendered, output) = backend.answer(&messages).map_err(at(item))?;
                let parsed = output.trim();
                let mut sample = json!({
                    "index": index, "line": item.line, "term": term, "messages": messages, "prompt": rendered, "output": output, "answer": parsed,
                    "reference": definition, "keywords": keywords, "judge": judge.name(),
                });
                let (correct, score) = match llm {
                    Some(l) => {
                        let (grade, reply) = glossary::judge_llm(l, term, definition, parsed).map_err(at(item))?;
                        let bad = f64::from(u8::from(grade.hallucinated()));
                        sample["grade"] = json!(grade.name());
                        sample["judge_reply"] = json!(reply);
                        sample["scores"] = json!({"hi": f64::from(u8::from(grade == glossary::Grade::Correct)), "hallucination_rate": bad});
                        hallucinated.push(bad);
                        (grade == glossary::Grade::Correct, f64::from(u8::from(grade == glossary::Grade::Correct)))
                    }
                    None => {
                        let verdict = glossary::judge(*judge, *threshold, parsed, definition, keywords);
                        sample["scores"] = json!({"hi": f64::from(u8::from(verdict.correct)), "judge_score": verdict.score});
                        (verdict.correct, verdict.score)
                    }
                };
                samples.push(sample);
                hi.push(f64::from(u8::from(correct)));
                judge_scores.push(score);
            }
            match llm {
                Some(_) => vec![metric("hi", hi), MetricValues { name: "hallucination_rate", higher_is_better: false, values: hallucinated, weights: None, exp: false }],
                None => vec![metric("hi", hi), metric("judge_score", judge_scores)],
            }
        }
    };
    Ok(SetRun { metrics, samples })
}

/// The `pairwise_win_rate` metric of every variant on set `si`: each answer judged against the
/// baseline's to the same prompt; the verdict and the judge's replies go into the sample record.
fn judge_pairwise(judge: &PairwiseJudge, baseline: &str, runs: &mut [Vec<SetRun>], si: usize) -> Result<()> {
    let endpoint = ChatEndpoint::new(&judge.endpoint, &judge.model);
    let rubric = judge.rubric.as_deref().unwrap_or(DEFAULT_PAIRWISE_RUBRIC);
    let base: Vec<Value> = runs[0][si].samples.clone();
    runs[0][si].metrics.push(metric("pairwise_win_rate", vec![Outcome::Tie.score(); base.len()]));
    for run in runs.iter_mut().skip(1) {
        let mut scores = Vec::with_capacity(base.len());
        for (sample, other) in run[si].samples.iter_mut().zip(&base) {
            let question = sample["messages"].as_array().and_then(|ms| ms.iter().rev().find(|m| m["role"] == "user")).and_then(|m| m["content"].as_str()).unwrap_or_default().to_string();
            let (answer, other) = (sample["answer"].as_str().unwrap_or_default(), other["answer"].as_str().unwrap_or_default());
            let (outcome, replies) = judge_both_orders(&endpoint, rubric, &question, sample["reference"].as_str(), answer, other)?;
            sample["pairwise"] = json!({"vs": baseline, "outcome": outcome.name(), "replies": replies});
            scores.push(outcome.score());
        }
        run[si].metrics.push(metric("pairwise_win_rate", scores));
    }
    Ok(())
}

/// One sample's score in [0, 1] (BLEU and chrF are sacrebleu's sentence scores / 100).
fn generation_score(m: GenerationMetric, rouge: &Rouge, prediction: &str, reference: &str) -> Result<f64> {
    Ok(match m {
        GenerationMetric::ExactMatch => f64::from(u8::from(exact_match(prediction, reference))),
        GenerationMetric::F1 => f1_score(prediction, reference),
        GenerationMetric::Rouge1 => rouge.score(prediction, reference).rouge1.fmeasure,
        GenerationMetric::Rouge2 => rouge.score(prediction, reference).rouge2.fmeasure,
        GenerationMetric::RougeL => rouge.score(prediction, reference).rouge_l.fmeasure,
        GenerationMetric::Bleu => sentence_bleu(prediction, &[reference], &BleuOptions::sentence())?.score / 100.0,
        GenerationMetric::Chrf => sentence_chrf(prediction, &[reference], &ChrfOptions::chrf())? / 100.0,
    })
}

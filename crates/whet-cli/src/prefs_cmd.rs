//! `whet data prefs`: preference pairs from AI feedback. Two models (or one base with two
//! adapters) answer the same prompts greedily; the stronger one's answer is `chosen` and the
//! weaker one's `rejected`, or, with `--judge reference`, the answer closer to the record's
//! reference answer (SQuAD token F1) is chosen. Pairs are written in TRL's conversational layout
//! with a `provenance` object saying who answered and why which side won; prompts whose two
//! answers are the same, or tie under the judge, are skipped and counted.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whet_eval::{f1_score, greedy_answer, AnswerOptions};
use whet_models::GenerationConfig;

use crate::model_source::{Loaded, ModelArgs};

#[derive(clap::Args, Debug)]
pub struct PrefsArgs {
    /// JSONL of `messages` records. A final assistant turn is the reference answer (used by
    /// `--judge reference`) and is not part of the prompt.
    #[arg(long, value_name = "FILE")]
    pub prompts: PathBuf,
    /// The stronger model directory (its answers are `chosen` with `--judge strong`).
    #[arg(long, value_name = "DIR")]
    pub strong: PathBuf,
    /// A LoRA adapter on the stronger model.
    #[arg(long, value_name = "DIR")]
    pub strong_adapter: Option<PathBuf>,
    /// The weaker model directory (default: the same as --strong).
    #[arg(long, value_name = "DIR")]
    pub weak: Option<PathBuf>,
    /// A LoRA adapter on the weaker model.
    #[arg(long, value_name = "DIR")]
    pub weak_adapter: Option<PathBuf>,
    /// Who decides which answer is chosen: `strong` (the stronger model's, always) or
    /// `reference` (the one with the higher token F1 against the reference answer).
    #[arg(long, default_value = "strong", value_parser = ["strong", "reference"])]
    pub judge: String,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Output JSONL of pairs (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// One side of the comparison: a loaded model and how to describe it in provenance.
struct Side {
    loaded: Loaded,
    name: String,
    opts: AnswerOptions,
}

impl Side {
    fn load(model: &Path, adapter: Option<&Path>, max_new_tokens: usize) -> Result<Self> {
        let loaded = ModelArgs::local(model, adapter).load()?;
        let opts = AnswerOptions {
            max_new_tokens,
            eos_token_ids: loaded.eos_token_ids(&GenerationConfig::read(model)?),
        };
        let name = match adapter {
            Some(a) => format!("{} + adapter {}", model.display(), a.display()),
            None => model.display().to_string(),
        };
        Ok(Self { loaded, name, opts })
    }

    fn answer(&self, prompt: &[Value]) -> Result<String> {
        Ok(greedy_answer(&self.loaded.model, &self.loaded.tokenizer, prompt, &self.opts)?)
    }
}

/// Which of two answers wins, and the judge's scores when it has them.
#[derive(Debug, PartialEq)]
enum Verdict {
    Strong(Option<(f64, f64)>),
    Weak((f64, f64)),
    /// No usable pair: identical answers, a tie, or no reference to judge by.
    Skip(&'static str),
}

fn judge(kind: &str, strong: &str, weak: &str, reference: Option<&str>) -> Verdict {
    if strong.trim() == weak.trim() {
        return Verdict::Skip("identical answers");
    }
    if kind == "strong" {
        return Verdict::Strong(None);
    }
    let Some(reference) = reference else { return Verdict::Skip("no reference answer") };
    let scores = (f1_score(strong, reference), f1_score(weak, reference));
    match scores.0.partial_cmp(&scores.1) {
        Some(std::cmp::Ordering::Greater) => Verdict::Strong(Some(scores)),
        Some(std::cmp::Ordering::Less) => Verdict::Weak(scores),
        _ => Verdict::Skip("tie"),
    }
}

pub fn run(args: PrefsArgs) -> Result<()> {
    if args.out.exists() {
        bail!("{}: already exists; choose another --out (nothing is overwritten)", args.out.display());
    }
    let prompts = read_prompts(&args.prompts)?;
    if args.judge == "reference" && prompts.iter().all(|p| p.reference.is_none()) {
        bail!("{}: --judge reference needs records that end with an assistant answer; none do", args.prompts.display());
    }
    let strong = Side::load(&args.strong, args.strong_adapter.as_deref(), args.max_new_tokens)?;
    let weak = Side::load(args.weak.as_deref().unwrap_or(&args.strong), args.weak_adapter.as_deref(), args.max_new_tokens)?;

    let tmp = args.out.with_extension("jsonl.partial");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
    let (mut written, mut skipped) = (0usize, std::collections::BTreeMap::<&str, usize>::new());
    for p in &prompts {
        let (a_strong, a_weak) = (strong.answer(&p.messages)?, weak.answer(&p.messages)?);
        let (chosen, rejected, scores) = match judge(&args.judge, &a_strong, &a_weak, p.reference.as_deref()) {
            Verdict::Strong(scores) => ((&a_strong, &strong.name), (&a_weak, &weak.name), scores),
            Verdict::Weak(scores) => ((&a_weak, &weak.name), (&a_strong, &strong.name), Some(scores)),
            Verdict::Skip(why) => {
                *skipped.entry(why).or_default() += 1;
                continue;
            }
        };
        let mut provenance = json!({
            "source": format!("{}:{}", args.prompts.display(), p.line),
            "judge": args.judge,
            "chosen_by": chosen.1,
            "rejected_by": rejected.1,
        });
        if let Some((s, w)) = scores {
            provenance["f1_strong"] = json!(s);
            provenance["f1_weak"] = json!(w);
        }
        let pair = json!({
            "prompt": p.messages,
            "chosen": [{"role": "assistant", "content": chosen.0}],
            "rejected": [{"role": "assistant", "content": rejected.0}],
            "provenance": provenance,
        });
        writeln!(file, "{pair}").with_context(|| format!("writing {}", tmp.display()))?;
        written += 1;
    }
    file.flush().with_context(|| format!("writing {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, &args.out).with_context(|| format!("renaming {} to {}", tmp.display(), args.out.display()))?;
    let skipped_text: Vec<String> = skipped.iter().map(|(why, n)| format!("{n} {why}")).collect();
    println!(
        "wrote {written} pairs from {} prompts to {}{}",
        prompts.len(),
        args.out.display(),
        if skipped_text.is_empty() { String::new() } else { format!(" (skipped: {})", skipped_text.join(", ")) }
    );
    Ok(())
}

struct Prompt {
    line: usize,
    messages: Vec<Value>,
    reference: Option<String>,
}

fn read_prompts(path: &Path) -> Result<Vec<Prompt>> {
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

    #[test]
    fn judges_pick_skip_and_score() {
        assert_eq!(judge("strong", "Blue.", " Blue. ", None), Verdict::Skip("identical answers"));
        assert_eq!(judge("strong", "Blue.", "Green.", None), Verdict::Strong(None));
        assert_eq!(judge("reference", "Blue.", "Green.", None), Verdict::Skip("no reference answer"));
        assert_eq!(judge("reference", "It is green.", "It is blue.", Some("blue")), Verdict::Weak((0.0, 0.5)));
        assert_eq!(judge("reference", "red", "green", Some("blue")), Verdict::Skip("tie"));
    }
}

//! The `whet eval` report: for every eval set and metric, each variant's value with a bootstrap
//! interval and, for each variant after the first, a paired permutation test against the first
//! (the baseline) on the same samples; per-term results of glossary sets; the forgetting check on
//! `general` sets; contamination. Written as `report.json` (this struct) and `report.md`, and
//! summed up in a terminal table.
//!
//! A metric that is a ratio of sums (perplexity: summed NLL over scored tokens) gets a ratio
//! bootstrap interval, shown through `exp`; its paired test runs on the per-record summed NLL
//! differences, which test the difference in NLL per token when both variants score the same
//! tokens (same tokenizer and template).

use std::fmt::Write;

use serde::Serialize;

use crate::bleu::{corpus_bleu, BleuOptions};
use crate::chrf::{corpus_chrf, ChrfOptions};
use crate::bootstrap::{bootstrap_mean_ci, bootstrap_ratio_ci, BootstrapOptions, ConfidenceInterval};
use crate::config::{EvalConfig, Task};
use crate::contamination::{Overlap, TrainingNgrams};
use crate::error::Result;
use crate::paired_test::{paired_permutation_test, PairedTestOptions};
use crate::runner::{LoadedSet, MetricValues, SetRun};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub whet_version: String,
    /// The config as resolved (defaults filled in, paths made relative to the working directory).
    pub config: EvalConfig,
    pub output_dir: String,
    pub baseline: String,
    pub variants: Vec<VariantInfo>,
    /// Where the chat template of every variant came from.
    pub chat_template: Option<String>,
    /// Interval coverage is `1 - alpha`; differences with `p < alpha` are significant.
    pub alpha: f64,
    pub sets: Vec<SetReport>,
    pub forgetting: Forgetting,
    pub contamination: Option<Contamination>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantInfo {
    pub name: String,
    pub model: String,
    pub adapter: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub name: String,
    pub kind: &'static str,
    pub path: String,
    pub records: usize,
    /// SHA-256 of the eval set file, so that a report names exactly the data it scored.
    pub sha256: String,
    pub general: bool,
    /// Glossary sets: the judge and its threshold.
    pub judge: Option<String>,
    pub metrics: Vec<MetricReport>,
    /// Glossary sets: each term's verdict per variant.
    pub terms: Vec<TermReport>,
    /// `samples/<set>/<variant>.jsonl`, relative to the output directory.
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricReport {
    pub metric: &'static str,
    pub higher_is_better: bool,
    pub results: Vec<VariantResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub variant: String,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
    /// BLEU and chrF: sacrebleu's corpus-level score / 100 over all samples (the figure papers
    /// quote); `value` is the mean of sentence scores, which the interval and test are about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corpus: Option<f64>,
    /// Against the baseline; `None` for the baseline itself.
    pub vs_baseline: Option<Comparison>,
}

/// `variant - baseline` on the same samples (for perplexity: in NLL per token).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub difference: f64,
    pub lower: f64,
    pub upper: f64,
    pub p_value: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TermReport {
    pub line: usize,
    pub term: String,
    /// Per variant, in variant order.
    pub correct: Vec<bool>,
    pub judge_scores: Vec<f64>,
    /// The llm judge's grades (correct, contradicts, unsupported, wrong); empty for other judges.
    pub grades: Vec<String>,
    pub answers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Forgetting {
    pub margin: f64,
    /// The `general` sets checked.
    pub sets: Vec<String>,
    pub flags: Vec<ForgettingFlag>,
}

/// A variant whose score on a general set fell more than the margin below the baseline's.
#[derive(Debug, Clone, Serialize)]
pub struct ForgettingFlag {
    pub set: String,
    pub metric: &'static str,
    pub variant: String,
    /// How much worse than the baseline, in the metric's units (NLL per token for perplexity).
    pub drop: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contamination {
    pub training_files: Vec<String>,
    pub training_records: usize,
    pub ngram: usize,
    pub sets: Vec<(String, Overlap)>,
}

/// Builds the report from every variant's runs (`runs[variant][set]`).
pub fn summarise(
    config: &EvalConfig,
    whet_version: &str,
    sets: &[LoadedSet],
    runs: &[Vec<SetRun>],
    contamination: Option<&(TrainingNgrams, Vec<Overlap>)>,
    chat_template: Option<String>,
) -> Result<Report> {
    let u = &config.uncertainty;
    let boot = BootstrapOptions { resamples: u.resamples, level: 1.0 - u.alpha, seed: u.seed };
    let paired = PairedTestOptions { permutations: u.permutations, bootstrap_resamples: u.resamples, alpha: u.alpha, seed: u.seed };
    let names: Vec<String> = config.variants.iter().map(|v| v.name.clone()).collect();
    let mut set_reports = Vec::new();
    let mut flags = Vec::new();
    for (si, set) in sets.iter().enumerate() {
        let mut metrics = Vec::new();
        for (mi, first) in runs[0][si].metrics.iter().enumerate() {
            let mut results = Vec::new();
            for (vi, name) in names.iter().enumerate() {
                let m = &runs[vi][si].metrics[mi];
                let ci = interval(m, &boot)?;
                let vs_baseline = if vi == 0 { None } else { Some(compare(first, m, &boot, &paired)?) };
                let (value, lower, upper) = if m.exp { (ci.mean.exp(), ci.lower.exp(), ci.upper.exp()) } else { (ci.mean, ci.lower, ci.upper) };
                if set.config.general {
                    if let Some(c) = &vs_baseline {
                        let drop = if m.higher_is_better { -c.difference } else { c.difference };
                        if drop > config.forgetting_margin {
                            flags.push(ForgettingFlag { set: set.config.name.clone(), metric: m.name, variant: name.clone(), drop, significant: c.significant });
                        }
                    }
                }
                let corpus = corpus_score(m.name, &runs[vi][si].samples)?;
                results.push(VariantResult { variant: name.clone(), value, lower, upper, corpus, vs_baseline });
            }
            metrics.push(MetricReport { metric: first.name, higher_is_better: first.higher_is_better, results });
        }
        let (judge, terms) = match &set.task {
            Task::Glossary { judge, threshold, .. } => {
                let label = match (judge, &set.task) {
                    (crate::config::Judge::Keywords, _) => "keywords (all present)".to_string(),
                    (_, Task::Glossary { llm: Some(l), .. }) => format!("llm (`{}` at {})", l.model, l.endpoint),
                    (j, _) => format!("{} >= {threshold}", j.name()),
                };
                (Some(label), term_reports(runs, si))
            }
            _ => (None, Vec::new()),
        };
        set_reports.push(SetReport {
            name: set.config.name.clone(),
            kind: set.config.kind.name(),
            path: set.config.path.display().to_string(),
            records: set.items.len(),
            sha256: set.sha256.clone(),
            general: set.config.general,
            judge,
            metrics,
            terms,
            samples: names.iter().map(|n| format!("samples/{}/{n}.jsonl", set.config.name)).collect(),
        });
    }
    Ok(Report {
        whet_version: whet_version.to_string(),
        config: config.clone(),
        output_dir: config.output_dir.display().to_string(),
        baseline: names[0].clone(),
        variants: config
            .variants
            .iter()
            .map(|v| VariantInfo {
                name: v.name.clone(),
                model: v.model.as_ref().map(|m| m.display().to_string()).or_else(|| v.endpoint.as_ref().map(|e| format!("{} (served, model `{}`)", e, v.model_name.as_deref().unwrap_or_default()))).unwrap_or_default(),
                adapter: v.adapter.as_ref().map(|a| a.display().to_string()),
            })
            .collect(),
        chat_template,
        alpha: u.alpha,
        sets: set_reports,
        forgetting: Forgetting {
            margin: config.forgetting_margin,
            sets: sets.iter().filter(|s| s.config.general).map(|s| s.config.name.clone()).collect(),
            flags,
        },
        contamination: contamination.map(|(grams, overlaps)| Contamination {
            training_files: grams.files.iter().map(|f| f.display().to_string()).collect(),
            training_records: grams.records,
            ngram: grams.ngram,
            sets: sets.iter().zip(overlaps).map(|(s, o)| (s.config.name.clone(), o.clone())).collect(),
        }),
    })
}

/// BLEU and chrF over the whole set, from the samples' answers and references.
fn corpus_score(metric: &str, samples: &[serde_json::Value]) -> Result<Option<f64>> {
    let text = |s: &serde_json::Value, key: &str| s[key].as_str().unwrap_or_default().to_string();
    let answers: Vec<String> = samples.iter().map(|s| text(s, "answer")).collect();
    let references: Vec<Vec<String>> = samples.iter().map(|s| vec![text(s, "reference")]).collect();
    Ok(match metric {
        "bleu" => Some(corpus_bleu(&answers, &references, &BleuOptions::corpus())?.score / 100.0),
        "chrf" => Some(corpus_chrf(&answers, &references, &ChrfOptions::chrf())? / 100.0),
        _ => None,
    })
}

fn interval(m: &MetricValues, boot: &BootstrapOptions) -> Result<ConfidenceInterval> {
    match &m.weights {
        Some(w) => bootstrap_ratio_ci(&m.values, w, boot),
        None => bootstrap_mean_ci(&m.values, boot),
    }
}

fn compare(base: &MetricValues, m: &MetricValues, boot: &BootstrapOptions, paired: &PairedTestOptions) -> Result<Comparison> {
    let test = paired_permutation_test(&base.values, &m.values, paired)?;
    let diff = match &m.weights {
        Some(w) => {
            let d: Vec<f64> = base.values.iter().zip(&m.values).map(|(a, b)| b - a).collect();
            bootstrap_ratio_ci(&d, w, boot)?
        }
        None => test.difference.clone(),
    };
    Ok(Comparison { difference: diff.mean, lower: diff.lower, upper: diff.upper, p_value: test.p_value, significant: test.significant })
}

fn term_reports(runs: &[Vec<SetRun>], si: usize) -> Vec<TermReport> {
    let first = &runs[0][si].samples;
    (0..first.len())
        .map(|i| {
            let sample = |v: &Vec<SetRun>| v[si].samples[i].clone();
            TermReport {
                line: first[i]["line"].as_u64().unwrap_or_default() as usize,
                term: first[i]["term"].as_str().unwrap_or_default().to_string(),
                correct: runs.iter().map(|v| sample(v)["scores"]["hi"].as_f64() == Some(1.0)).collect(),
                judge_scores: runs.iter().map(|v| sample(v)["scores"]["judge_score"].as_f64().or(sample(v)["scores"]["hi"].as_f64()).unwrap_or(f64::NAN)).collect(),
                grades: runs.iter().filter_map(|v| sample(v)["grade"].as_str().map(str::to_string)).collect(),
                answers: runs.iter().map(|v| sample(v)["answer"].as_str().unwrap_or_default().to_string()).collect(),
            }
        })
        .collect()
}

pub(crate) fn label(metric: &str) -> &str {
    match metric {
        "hi" => "HI (share correct)",
        "judge_score" => "judge score",
        "hallucination_rate" => "contradicted or unsupported",
        "pairwise_win_rate" => "win rate vs baseline (LLM judge)",
        other => other,
    }
}

fn cell(r: &VariantResult) -> String {
    format!("{:.3} [{:.3}, {:.3}]", r.value, r.lower, r.upper)
}

/// "+0.129 [+0.057, +0.200], p = 0.0001" with a verdict.
fn difference(c: &Comparison) -> String {
    format!("{:+.3} [{:+.3}, {:+.3}], p = {:.4}", c.difference, c.lower, c.upper, c.p_value)
}

impl Report {
    /// `report.md`.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let level = (1.0 - self.alpha) * 100.0;
        let _ = writeln!(s, "# whet eval report\n");
        let _ = writeln!(s, "whet {}. Baseline: `{}`. Every value has a {level:.0}% bootstrap interval; each variant is compared with the baseline on the same samples by a paired permutation test, and a difference is significant when p < {}.\n", self.whet_version, self.baseline, self.alpha);
        let _ = writeln!(s, "| variant | model | adapter |\n|---|---|---|");
        for v in &self.variants {
            let _ = writeln!(s, "| {} | `{}` | {} |", v.name, v.model, v.adapter.as_deref().map(|a| format!("`{a}`")).unwrap_or_else(|| "none".into()));
        }
        if let Some(t) = &self.chat_template {
            let _ = writeln!(s, "\nChat template (all variants): {t}.");
        }
        let header: String = self.variants.iter().map(|v| format!(" {} |", v.name)).collect();
        let rule: String = self.variants.iter().map(|_| "---|").collect();
        for set in &self.sets {
            let general = if set.general { ", general (forgetting check)" } else { "" };
            let _ = writeln!(s, "\n## {} ({}, {} records{general})\n\n`{}` (SHA-256 {}){}\n", set.name, set.kind, set.records, set.path, &set.sha256[..12], set.judge.as_ref().map(|j| format!("; judge: {j}")).unwrap_or_default());
            let _ = writeln!(s, "| metric |{header}\n|---|{rule}");
            let mut notes = Vec::new();
            for m in &set.metrics {
                let arrow = if m.higher_is_better { "↑" } else { "↓" };
                let cells: String = m
                    .results
                    .iter()
                    .map(|r| match &r.vs_baseline {
                        Some(c) if c.significant => format!(" {} ✱ |", cell(r)),
                        _ => format!(" {} |", cell(r)),
                    })
                    .collect();
                let _ = writeln!(s, "| {} {arrow} |{cells}", label(m.metric));
                if m.results.iter().any(|r| r.corpus.is_some()) {
                    let corpus: String = m.results.iter().map(|r| format!(" {:.3} |", r.corpus.unwrap_or(f64::NAN))).collect();
                    let _ = writeln!(s, "| {} (corpus) |{corpus}", label(m.metric));
                }
                for r in &m.results {
                    if let Some(c) = &r.vs_baseline {
                        let units = if m.metric == "perplexity" { " NLL per token" } else { "" };
                        let verdict = if c.significant { "significant" } else { "**not significant**" };
                        notes.push(format!("- {} vs {}, {}: {}{units} ({verdict})", r.variant, self.baseline, label(m.metric), difference(c)));
                    }
                }
            }
            if !notes.is_empty() {
                let _ = writeln!(s, "\nDifferences from the baseline ({}% interval, paired permutation test; ✱ in the table: significant):\n\n{}", level.round(), notes.join("\n"));
            }
            if !set.terms.is_empty() {
                let _ = writeln!(s, "\nPer term (✓ judged correct, with the judge's score):\n\n| line | term |{header}\n|---|---|{rule}");
                for t in &set.terms {
                    let cells: String = if t.grades.is_empty() {
                        t.correct.iter().zip(&t.judge_scores).map(|(c, j)| format!(" {} {j:.2} |", if *c { "✓" } else { "✗" })).collect()
                    } else {
                        t.correct.iter().zip(&t.grades).map(|(c, g)| format!(" {} {g} |", if *c { "✓" } else { "✗" })).collect()
                    };
                    let _ = writeln!(s, "| {} | {} |{cells}", t.line, t.term);
                }
            }
            let _ = writeln!(s, "\nSamples: {}", set.samples.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "));
        }
        let _ = writeln!(s, "\n## Forgetting check\n");
        if self.forgetting.sets.is_empty() {
            let _ = writeln!(s, "No eval set is marked `general = true`, so nothing was checked.");
        } else if self.forgetting.flags.is_empty() {
            let _ = writeln!(s, "No variant fell more than {} below the baseline on the general sets ({}).", self.forgetting.margin, self.forgetting.sets.join(", "));
        } else {
            let _ = writeln!(s, "Drops of more than {} below the baseline on the general sets:\n\n| set | metric | variant | drop | significant |\n|---|---|---|---|---|", self.forgetting.margin);
            for f in &self.forgetting.flags {
                let _ = writeln!(s, "| {} | {} | {} | {:.3} | {} |", f.set, label(f.metric), f.variant, f.drop, if f.significant { "yes" } else { "no" });
            }
        }
        let _ = writeln!(s, "\n## Contamination\n");
        match &self.contamination {
            None => {
                let _ = writeln!(s, "Not checked: the config gives no `training_data` or `training_run`.");
            }
            Some(c) => {
                let _ = writeln!(s, "Eval records sharing a {}-word n-gram with the {} training records of {}:\n\n| set | records | contaminated | share | first shared n-grams (line) |\n|---|---|---|---|---|", c.ngram, c.training_records, c.training_files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "));
                for (name, o) in &c.sets {
                    let ex: Vec<String> = o.examples.iter().map(|(l, g)| format!("{l}: \"{g}\"")).collect();
                    let _ = writeln!(s, "| {name} | {} | {} | {:.1}% | {} |", o.records, o.contaminated, 100.0 * o.share, ex.join("; "));
                }
            }
        }
        s
    }

    /// The short table printed at the end of `whet eval`.
    pub fn terminal_table(&self) -> String {
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        for set in &self.sets {
            for m in &set.metrics {
                let cells = m
                    .results
                    .iter()
                    .map(|r| match &r.vs_baseline {
                        Some(c) if c.significant => format!("{} *", cell(r)),
                        Some(_) => format!("{} ~", cell(r)),
                        None => format!("{}  ", cell(r)),
                    })
                    .collect();
                rows.push((format!("{} / {}", set.name, label(m.metric)), cells));
            }
        }
        let first = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(12);
        let width = rows.iter().flat_map(|r| r.1.iter().map(String::len)).chain(self.variants.iter().map(|v| v.name.len())).max().unwrap_or(0);
        let mut s = String::new();
        let _ = write!(s, "{:<first$}", "set / metric");
        for v in &self.variants {
            let _ = write!(s, "  {:>width$}", format!("{}  ", v.name));
        }
        let _ = writeln!(s);
        for (name, cells) in &rows {
            let _ = write!(s, "{name:<first$}");
            for c in cells {
                let _ = write!(s, "  {c:>width$}");
            }
            let _ = writeln!(s);
        }
        let level = (1.0 - self.alpha) * 100.0;
        let _ = writeln!(s, "[low, high]: {level:.0}% bootstrap interval; * differs significantly from {} (paired permutation test, p < {}); ~ not significant", self.baseline, self.alpha);
        for f in &self.forgetting.flags {
            let _ = writeln!(s, "forgetting: {} fell {:.3} below {} on {} / {}{}", f.variant, f.drop, self.baseline, f.set, label(f.metric), if f.significant { "" } else { " (not significant)" });
        }
        if let Some(c) = &self.contamination {
            for (name, o) in &c.sets {
                let _ = writeln!(s, "contamination: {name}: {}/{} records share a {}-gram with the training data", o.contaminated, o.records, c.ngram);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{EvalConfig, Kind};
    use crate::eval_data::{Item, Record};

    fn setup(general: bool) -> (EvalConfig, Vec<LoadedSet>) {
        let text = format!(
            "output_dir = \"out\"\nforgetting_margin = 0.1\n[[variants]]\nname = \"base\"\nmodel = \"m\"\n[[variants]]\nname = \"tuned\"\nmodel = \"m\"\n[[eval_sets]]\nname = \"g\"\nkind = \"generation\"\npath = \"g.jsonl\"\ngeneral = {general}\n"
        );
        let config = EvalConfig::parse(&text, Path::new("eval.toml"), Path::new(".")).expect("config");
        let items = (0..40).map(|i| Item { line: i + 1, record: Record::Text { text: String::new() } }).collect();
        let set = LoadedSet { config: config.eval_sets[0].clone(), task: config.eval_sets[0].task().expect("task"), items, sha256: "0".repeat(64) };
        assert_eq!(set.config.kind, Kind::Generation);
        (config, vec![set])
    }

    fn run(values: Vec<f64>) -> Vec<SetRun> {
        vec![SetRun { metrics: vec![MetricValues { name: "f1", higher_is_better: true, values, weights: None, exp: false }], samples: Vec::new() }]
    }

    #[test]
    fn a_drop_beyond_the_margin_on_a_general_set_is_flagged_and_a_small_one_is_not() -> Result<()> {
        let base: Vec<f64> = (0..40).map(|i| if i % 4 == 0 { 0.0 } else { 1.0 }).collect();
        // 0.75 -> 0.25 (drop 0.5, every sample worse or equal): flagged, significant.
        let worse: Vec<f64> = (0..40).map(|i| if i % 4 == 1 { 1.0 } else { 0.0 }).collect();
        // 0.75 -> 0.70 (drop 0.05 < margin 0.1): not flagged.
        let close: Vec<f64> = base.iter().enumerate().map(|(i, v)| if i == 2 || i == 3 { 0.0 } else { *v }).collect();
        let (config, sets) = setup(true);
        let r = summarise(&config, "test", &sets, &[run(base.clone()), run(worse)], None, None)?;
        assert_eq!(r.forgetting.flags.len(), 1);
        let f = &r.forgetting.flags[0];
        assert!((f.drop - 0.5).abs() < 1e-12 && f.significant && f.variant == "tuned", "{f:?}");
        let r = summarise(&config, "test", &sets, &[run(base.clone()), run(close)], None, None)?;
        assert!(r.forgetting.flags.is_empty());
        let c = r.sets[0].metrics[0].results[1].vs_baseline.as_ref().expect("comparison");
        assert!((c.difference + 0.05).abs() < 1e-12 && !c.significant, "{c:?}");
        // The same drop on a set that is not general is reported but not flagged.
        let (config, sets) = setup(false);
        let worse: Vec<f64> = (0..40).map(|i| if i % 4 == 1 { 1.0 } else { 0.0 }).collect();
        let r = summarise(&config, "test", &sets, &[run(base), run(worse)], None, None)?;
        assert!(r.forgetting.flags.is_empty() && r.forgetting.sets.is_empty());
        assert!(r.markdown().contains("No eval set is marked `general = true`"));
        Ok(())
    }
}

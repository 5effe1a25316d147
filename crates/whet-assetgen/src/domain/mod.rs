//! The quickstart demo's supervised fine-tuning set: questions about the fictional Corvid WX-4
//! weather station (`product.rs`) with their canonical answers, as `train.jsonl`, `valid.jsonl`
//! and `test.jsonl` of `{"messages": [user, assistant]}` records; and two eval sets for
//! `whet eval`: `glossary.jsonl` (the glossary terms with definitions and keywords,
//! `glossary.rs`) and `general.jsonl` (questions about the base corpus's world, `general.rs`). (No system prompt: the questions name the product,
//! and a prompt on every record would cost a fifth of the quickstart's training time.)
//!
//! The split is per fact: of a fact's seven question phrasings, one goes to test, one to
//! valid, the other five to train. Which phrasing goes where is chosen by the seeded PRNG but
//! rotated across the facts of a type, so every test phrasing is a template the model was
//! trained on for other facts of that type. The test then measures what a tiny model can
//! learn: the answer to a fact it saw in training, asked in a phrasing it saw for other facts,
//! but never this exact question.

pub mod general;
pub mod glossary;
pub mod product;

use std::path::Path;

use anyhow::{Context, Result};

use crate::jsonl;
use crate::rng::Rng;
use product::TYPES;

/// One question about one fact.
#[derive(Clone, Debug)]
pub struct Record {
    /// Index into `TYPES`.
    pub kind: usize,
    /// Index into that type's facts (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fact: usize,
    /// Index into that type's templates (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub template: usize,
    pub question: String,
    pub answer: &'static str,
}

impl Record {
    /// The JSONL line, without its newline.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"messages\":[");
        for (i, (role, content)) in [
            ("user", self.question.as_str()),
            ("assistant", self.answer),
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"role\":");
            jsonl::push_string(&mut s, role);
            s.push_str(",\"content\":");
            jsonl::push_string(&mut s, content);
            s.push('}');
        }
        s.push_str("]}");
        s
    }
}

#[derive(Clone, Debug, Default)]
pub struct Splits {
    pub train: Vec<Record>,
    pub valid: Vec<Record>,
    pub test: Vec<Record>,
}

impl Splits {
    pub fn files(&self) -> [(&'static str, &[Record]); 3] {
        [("train.jsonl", &self.train), ("valid.jsonl", &self.valid), ("test.jsonl", &self.test)]
    }
}

pub fn build(seed: u64) -> Splits {
    let mut rng = Rng::new(seed);
    let mut splits = Splits::default();
    for (k, t) in TYPES.iter().enumerate() {
        let n_templates = t.templates.len();
        // A random order of the templates and of the facts; fact number i in that order holds
        // out templates order[i + offset] (test) and order[i + offset + 1] (valid). With seven
        // templates and at least three facts per type, every held-out template is a training
        // template for some other fact.
        let mut order: Vec<usize> = (0..n_templates).collect();
        rng.shuffle(&mut order);
        let mut facts: Vec<usize> = (0..t.facts.len()).collect();
        rng.shuffle(&mut facts);
        let offset = rng.index(n_templates);
        for (i, &fi) in facts.iter().enumerate() {
            let fact = &t.facts[fi];
            let test = order[(i + offset) % n_templates];
            let valid = order[(i + offset + 1) % n_templates];
            for (ti, template) in t.templates.iter().enumerate() {
                let record = Record {
                    kind: k,
                    fact: fi,
                    template: ti,
                    question: fact.question(template),
                    answer: fact.answer,
                };
                if ti == test {
                    splits.test.push(record);
                } else if ti == valid {
                    splits.valid.push(record);
                } else {
                    splits.train.push(record);
                }
            }
        }
    }
    rng.shuffle(&mut splits.train);
    rng.shuffle(&mut splits.valid);
    rng.shuffle(&mut splits.test);
    splits
}

/// "error code 8/2/2, ...": records per fact type in train/valid/test.
pub fn summary(splits: &Splits) -> String {
    TYPES
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let n = |rs: &[Record]| rs.iter().filter(|r| r.kind == k).count();
            format!("{} {}/{}/{}", t.name, n(&splits.train), n(&splits.valid), n(&splits.test))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The contents of one split's file.
pub fn render(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records {
        out.push_str(&r.to_json());
        out.push('\n');
    }
    out
}

/// Writes the three splits and the two eval sets into `dir` (which must exist).
pub fn write(dir: &Path, splits: &Splits, seed: u64) -> Result<()> {
    let eval_sets = [("glossary.jsonl", glossary::render()), ("general.jsonl", general::render(seed))];
    let files = splits.files().map(|(name, records)| (name, render(records)));
    for (name, text) in files.into_iter().chain(eval_sets) {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn parse(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let msgs = v["messages"].as_array().unwrap();
                assert_eq!(v.as_object().unwrap().len(), 1);
                assert_eq!(msgs.len(), 2);
                let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
                assert_eq!(roles, ["user", "assistant"]);
                for m in msgs {
                    assert_eq!(m.as_object().unwrap().len(), 2);
                }
                (
                    msgs[0]["content"].as_str().unwrap().to_string(),
                    msgs[1]["content"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn deterministic_per_seed() {
        let a = build(42);
        let b = build(42);
        let c = build(43);
        for ((_, x), ((_, y), (_, z))) in
            a.files().iter().zip(b.files().iter().zip(c.files().iter()))
        {
            assert_eq!(render(x), render(y));
            assert_ne!(render(x), render(z));
        }
    }

    #[test]
    fn files_parse_and_split_is_compositional() {
        for seed in [1, 42, 1234] {
            let s = build(seed);
            let train = parse(&render(&s.train));
            let valid = parse(&render(&s.valid));
            let test = parse(&render(&s.test));
            assert_eq!((train.len(), valid.len(), test.len()), (350, 70, 70));
            let seen: BTreeSet<&str> =
                train.iter().chain(&valid).map(|(q, _)| q.as_str()).collect();
            let train_answers: BTreeSet<&str> = train.iter().map(|(_, a)| a.as_str()).collect();
            for (q, a) in &test {
                assert!(!seen.contains(q.as_str()), "test question seen: {q}");
                assert!(train_answers.contains(a.as_str()), "test answer not in train: {a}");
            }
            let valid_q: BTreeSet<&str> = valid.iter().map(|(q, _)| q.as_str()).collect();
            assert!(train.iter().all(|(q, _)| !valid_q.contains(q.as_str())));
            // One answer per fact, whichever file and phrasing.
            let mut by_fact: BTreeMap<(usize, usize), BTreeSet<&str>> = BTreeMap::new();
            for r in s.train.iter().chain(&s.valid).chain(&s.test) {
                by_fact.entry((r.kind, r.fact)).or_default().insert(r.answer);
            }
            assert_eq!(by_fact.len(), 70);
            assert!(by_fact.values().all(|answers| answers.len() == 1));
            // Each test template is a train template for another fact of the same type.
            for r in &s.test {
                assert!(
                    s.train
                        .iter()
                        .any(|t| t.kind == r.kind && t.template == r.template && t.fact != r.fact),
                    "test phrasing never trained: {}",
                    r.question
                );
            }
            // The held-out template varies across facts.
            let test_templates: BTreeSet<(usize, usize)> =
                s.test.iter().map(|r| (r.kind, r.template)).collect();
            assert!(test_templates.len() > 30);
        }
    }
}

//! The audit report: counts per rule with examples, PII counts by type, policy flags, language
//! mix, length histograms and bias-term tables per split — as JSON (`report.json`, the
//! [`Stats`] struct) and Markdown (`report.md`).
//!
//! The accounting identity `input = kept + Σ dropped` is checked when the report is written and
//! stated in both files; a run whose numbers do not add up is an error, never a report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::bias::GroupCount;

/// Rules in pipeline order; a rejected record names exactly one.
pub const RULES: [&str; 9] = [
    "malformed",
    "pii",
    "structure",
    "language",
    "quality",
    "policy",
    "decontamination",
    "exact_dedup",
    "near_dedup",
];

/// Upper edges (characters) of the length histogram buckets; the last bucket is open.
pub const LENGTH_BUCKETS: [u64; 10] = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub idx: u64,
    pub source: String,
    pub line: u64,
    pub check: String,
    pub reason: String,
    pub excerpt: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    pub records: u64,
    pub chars: u64,
    /// Counts per [`LENGTH_BUCKETS`] bucket (one more than the edges).
    pub length_histogram: Vec<u64>,
    pub bias: BTreeMap<String, GroupCount>,
    /// Records per fold (train only, when k-fold is on).
    pub folds: Vec<u64>,
}

impl SplitStats {
    pub fn add_length(&mut self, chars: u64) {
        if self.length_histogram.is_empty() {
            self.length_histogram = vec![0; LENGTH_BUCKETS.len() + 1];
        }
        let b = LENGTH_BUCKETS.iter().position(|e| chars < *e).unwrap_or(LENGTH_BUCKETS.len());
        self.length_histogram[b] += 1;
        self.records += 1;
        self.chars += chars;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub input: u64,
    pub input_by_source: BTreeMap<String, u64>,
    pub input_formats: BTreeMap<String, u64>,
    pub kept: u64,
    pub dropped: BTreeMap<String, u64>,
    /// `rule.check` → count.
    pub dropped_by_check: BTreeMap<String, u64>,
    pub examples: BTreeMap<String, Vec<Example>>,
    /// Records whose text normalisation changed.
    pub normalized: u64,
    pub pii_found: BTreeMap<String, u64>,
    pub pii_redacted: BTreeMap<String, u64>,
    pub policy_flagged: BTreeMap<String, u64>,
    pub languages: BTreeMap<String, u64>,
    pub splits: BTreeMap<String, SplitStats>,
}

impl Stats {
    pub fn reject(&mut self, rule: &str, ex: Example, max_examples: usize) {
        *self.dropped.entry(rule.to_string()).or_default() += 1;
        *self.dropped_by_check.entry(format!("{rule}.{}", ex.check)).or_default() += 1;
        let list = self.examples.entry(rule.to_string()).or_default();
        if list.len() < max_examples {
            list.push(ex);
        }
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// `input = kept + Σ dropped`.
    pub fn identity_holds(&self) -> bool {
        self.input == self.kept + self.dropped_total()
    }

    /// Adds another run's (a shard's) counts; examples stay the earliest by record index.
    pub fn absorb(&mut self, o: &Stats, max_examples: usize) {
        fn add(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
            for (k, v) in b {
                *a.entry(k.clone()).or_default() += v;
            }
        }
        self.input += o.input;
        add(&mut self.input_by_source, &o.input_by_source);
        add(&mut self.input_formats, &o.input_formats);
        self.kept += o.kept;
        add(&mut self.dropped, &o.dropped);
        add(&mut self.dropped_by_check, &o.dropped_by_check);
        for (rule, exs) in &o.examples {
            let list = self.examples.entry(rule.clone()).or_default();
            list.extend(exs.iter().cloned());
            list.sort_by_key(|e| e.idx);
            list.truncate(max_examples);
        }
        self.normalized += o.normalized;
        add(&mut self.pii_found, &o.pii_found);
        add(&mut self.pii_redacted, &o.pii_redacted);
        add(&mut self.policy_flagged, &o.policy_flagged);
        add(&mut self.languages, &o.languages);
    }

    /// The Markdown report.
    pub fn markdown(&self, bias_groups: &[String]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Data preparation report\n");
        let _ = writeln!(
            s,
            "**Accounting:** input {} = kept {} + dropped {} — {}\n",
            self.input,
            self.kept,
            self.dropped_total(),
            if self.identity_holds() { "holds" } else { "DOES NOT HOLD" }
        );
        let _ = writeln!(s, "## Input\n\n| source | records |\n|---|---:|");
        for (k, v) in &self.input_by_source {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        let _ = writeln!(s, "\n| detected format | records |\n|---|---:|");
        for (k, v) in &self.input_formats {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        let _ = writeln!(s, "\nText normalisation changed {} records.\n", self.normalized);
        let _ = writeln!(s, "## Dropped, per rule\n\n| rule | check | records |\n|---|---|---:|");
        for rule in RULES {
            let prefix = format!("{rule}.");
            for (k, v) in self.dropped_by_check.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                let _ = writeln!(s, "| {rule} | {} | {v} |", &k[prefix.len()..]);
            }
        }
        let _ = writeln!(s, "| **total** | | **{}** |\n", self.dropped_total());
        for rule in RULES {
            let Some(exs) = self.examples.get(rule) else { continue };
            let _ = writeln!(s, "### Examples: {rule}\n");
            for e in exs {
                let _ = writeln!(
                    s,
                    "- `{}:{}` ({}) {} — `{}`",
                    e.source,
                    e.line,
                    e.check,
                    e.reason.replace('|', "\\|"),
                    e.excerpt.replace('`', "'").replace('\n', " ")
                );
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## PII\n\n| type | found | redacted |\n|---|---:|---:|");
        for (k, v) in &self.pii_found {
            let _ = writeln!(s, "| {k} | {v} | {} |", self.pii_redacted.get(k).copied().unwrap_or(0));
        }
        if !self.policy_flagged.is_empty() {
            let _ = writeln!(s, "\n## Content policy flags (kept, listed in flags.jsonl)\n\n| category | records |\n|---|---:|");
            for (k, v) in &self.policy_flagged {
                let _ = writeln!(s, "| {k} | {v} |");
            }
        }
        let _ = writeln!(s, "\n## Language mix (kept records)\n\n| language | records |\n|---|---:|");
        for (k, v) in &self.languages {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        let _ = writeln!(s, "\n## Splits\n\n| split | records | mean chars |\n|---|---:|---:|");
        for (k, v) in &self.splits {
            let mean = if v.records > 0 { v.chars as f64 / v.records as f64 } else { 0.0 };
            let _ = writeln!(s, "| {k} | {} | {mean:.0} |", v.records);
        }
        let _ = writeln!(s, "\n### Length histogram (characters)\n");
        let mut header = String::from("| split |");
        let mut lo = 0;
        for e in LENGTH_BUCKETS {
            let _ = write!(header, " {lo}–{} |", e - 1);
            lo = e;
        }
        let _ = write!(header, " ≥{lo} |");
        let _ = writeln!(s, "{header}\n|---|{}", "---:|".repeat(LENGTH_BUCKETS.len() + 1));
        for (k, v) in &self.splits {
            let cells: Vec<String> = v.length_histogram.iter().map(u64::to_string).collect();
            let _ = writeln!(s, "| {k} | {} |", cells.join(" | "));
        }
        if !bias_groups.is_empty() {
            let _ = writeln!(s, "\n## Bias audit: term-group mentions per split\n");
            let _ = writeln!(s, "| split | group | mentions | records | share of mentions |\n|---|---|---:|---:|---:|");
            for (k, v) in &self.splits {
                let total: u64 = v.bias.values().map(|g| g.mentions).sum();
                for g in bias_groups {
                    let c = v.bias.get(g).copied().unwrap_or_default();
                    let share = if total > 0 { c.mentions as f64 / total as f64 } else { 0.0 };
                    let _ = writeln!(s, "| {k} | {g} | {} | {} | {:.1}% |", c.mentions, c.records, share * 100.0);
                }
            }
        }
        s
    }
}

/// The first `n` characters of `text`, on one line.
pub fn excerpt(text: &str, n: usize) -> String {
    let mut e: String = text.chars().take(n).collect();
    if text.chars().nth(n).is_some() {
        e.push('…');
    }
    e.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorb_sums_counts_and_keeps_earliest_examples() {
        let ex = |idx| Example { idx, check: "c".into(), ..Default::default() };
        let mut a = Stats { input: 3, kept: 1, ..Default::default() };
        a.reject("quality", ex(5), 2);
        a.reject("quality", ex(7), 2);
        let mut b = Stats { input: 2, kept: 1, ..Default::default() };
        b.reject("quality", ex(1), 2);
        a.absorb(&b, 2);
        assert_eq!(a.dropped["quality"], 3);
        assert_eq!(a.examples["quality"].iter().map(|e| e.idx).collect::<Vec<_>>(), vec![1, 5]);
        assert!(a.identity_holds());
    }
}

//! The prep driver: streams the sources in chunks, runs the per-record steps in parallel, the
//! deduplication and split steps sequentially in input order, and writes the outputs.
//!
//! Determinism: records get a global index (sources in config order, rows in file order).
//! Stage 1 is a pure function of one record, run with rayon over a chunk and collected in
//! order; stage 2 (dedup, split) runs in index order. So the outputs are the same for any
//! thread count, and `--shard I/N` plus `merge` gives the same splits as one run: a shard runs
//! stage 1 on the records with `index mod N = I` and writes the survivors; the merge reads all
//! shards' survivors back in index order and runs stage 2.
//!
//! Nothing lost: each record ends in one split file or in `rejects.jsonl` (rule, check, reason,
//! source, file, line, the record as it was when rejected, PII-scrubbed when `[pii]` is on). The
//! run fails if `input = kept + Σ dropped` does not hold. Outputs are written as `*.partial`
//! and renamed only when the run succeeds, so a failed run leaves earlier outputs untouched.
//!
//! Memory: a chunk of records, plus the dedup indexes and about 80 bytes per kept record for the
//! split assignment; kept records wait in a temporary file until the splits are assigned.

use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::bias::BiasAudit;
use super::config::{OnError, PiiAction, PrepConfig};
use super::decontam::Decontaminator;
use super::dedup::{exact_keys, key_name, ExactIndex, Loc, NearIndex, NearKeys};
use super::language::LanguageFilter;
use super::minhash::MinHasher;
use super::normalize::normalize_text;
use super::pii::{redact, PiiDetector, PiiKind};
use super::policy::{PolicyAction, PolicyChecker};
use super::quality::QualityFilter;
use super::report::{excerpt, Example, SplitStats, Stats};
use super::split::{by_hash, fold, stable_hash, stratified, SplitName};
use super::structure::StructureChecker;
use crate::formats::{parse, Parsed};
use crate::records::{Payload, Row, RowReader};
use crate::{Error, Result};

/// Records per parallel chunk.
const CHUNK: usize = 4096;

/// `--shard I/N`: this process handles records with `index mod N = I`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn dir_name(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

/// The compiled steps of one config.
pub struct Pipeline {
    pub cfg: PrepConfig,
    structure: StructureChecker,
    pii: Option<PiiDetector>,
    language: Option<LanguageFilter>,
    quality: Option<QualityFilter>,
    policy: Option<PolicyChecker>,
    decontam: Option<Decontaminator>,
    hasher: Option<MinHasher>,
    pub bias: Option<BiasAudit>,
}

/// One input row with its global position.
pub struct Item {
    pub idx: u64,
    pub source: u32,
    pub row: Row,
}

/// A record that passed stage 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    pub idx: u64,
    pub source: u32,
    pub line: u64,
    pub parsed: Parsed,
    pub lang: Option<String>,
    pub flags: Vec<String>,
}

/// A record removed by a rule.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub idx: u64,
    pub source: u32,
    pub line: u64,
    pub rule: &'static str,
    pub check: String,
    pub reason: String,
    pub record: Value,
}

/// Stage 1's answer for one record, with what the report counts.
pub struct Stage1 {
    pub outcome: std::result::Result<Kept, Rejected>,
    pub format: Option<&'static str>,
    pub normalized: bool,
    pub pii_found: [u32; 8],
    pub pii_redacted: [u32; 8],
}

impl Pipeline {
    /// Compiles every step (regexes, policy file, eval sets, tokenizer). The config must have
    /// been validated.
    pub fn new(cfg: &PrepConfig) -> Result<Self> {
        Ok(Pipeline {
            cfg: cfg.clone(),
            structure: StructureChecker::new(&cfg.structure)?,
            pii: cfg.pii.as_ref().map(PiiDetector::new).transpose()?,
            language: cfg.language.as_ref().map(LanguageFilter::new),
            quality: cfg.quality.as_ref().map(QualityFilter::new).transpose()?,
            policy: cfg.policy.as_ref().map(|p| PolicyChecker::load(&p.file)).transpose()?,
            decontam: cfg.decontamination.as_ref().map(Decontaminator::load).transpose()?,
            hasher: cfg
                .near_dedup
                .as_ref()
                .map(|n| MinHasher::new(n.ngram, n.bands, n.rows, cfg.seed)),
            bias: cfg.bias.as_ref().map(BiasAudit::new).transpose()?,
        })
    }

    /// Replaces every PII hit (whatever its action) with its placeholder: for text that goes to
    /// the rejects file.
    fn scrub(&self, text: &str) -> String {
        match &self.pii {
            None => text.to_string(),
            Some(d) => {
                let mut out = String::with_capacity(text.len());
                let mut pos = 0;
                for h in d.find(text) {
                    out.push_str(&text[pos..h.start]);
                    out.push_str(h.kind.placeholder());
                    pos = h.end;
                }
                out.push_str(&text[pos..]);
                out
            }
        }
    }

    fn scrub_value(&self, v: Value) -> Value {
        if self.pii.is_none() {
            return v;
        }
        match v {
            Value::String(s) => Value::String(self.scrub(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.scrub_value(x)).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, self.scrub_value(x))).collect()),
            other => other,
        }
    }

    /// The per-record steps. Pure: the answer depends only on the record and the config.
    pub fn stage1(&self, item: Item) -> Stage1 {
        let Item { idx, source, row } = item;
        let line = row.line;
        let mut out = Stage1 {
            outcome: Err(Rejected {
                idx,
                source,
                line,
                rule: "malformed",
                check: String::new(),
                reason: String::new(),
                record: Value::Null,
            }),
            format: None,
            normalized: false,
            pii_found: [0; 8],
            pii_redacted: [0; 8],
        };
        let reject = |rule: &'static str, check: &str, reason: String, record: Value| Rejected {
            idx,
            source,
            line,
            rule,
            check: check.to_string(),
            reason,
            record,
        };
        let obj = match row.payload {
            Payload::Malformed { raw, message } => {
                out.outcome = Err(reject("malformed", "json", message, Value::String(self.scrub(&raw))));
                return out;
            }
            Payload::Object(o) => o,
        };
        let format = self.cfg.sources.get(source as usize).map(|s| s.format).unwrap_or(crate::formats::Format::Auto);
        let original = obj.clone();
        let mut parsed = match parse(format, obj) {
            Ok(p) => p,
            Err(message) => {
                out.outcome = Err(reject("malformed", "format", message, self.scrub_value(Value::Object(original))));
                return out;
            }
        };
        drop(original);
        out.format = Some(parsed.format.name());
        for t in parsed.record.contents_mut() {
            out.normalized |= normalize_text(t, &self.cfg.normalize);
        }
        if let Some(d) = &self.pii {
            let mut drop_kind: Option<PiiKind> = None;
            for t in parsed.record.contents_mut() {
                let hits = d.find(t);
                if hits.is_empty() {
                    continue;
                }
                for h in &hits {
                    out.pii_found[h.kind.index()] += 1;
                    match d.action(h.kind) {
                        PiiAction::Drop => drop_kind = drop_kind.or(Some(h.kind)),
                        PiiAction::Redact => out.pii_redacted[h.kind.index()] += 1,
                        PiiAction::Keep => {}
                    }
                }
                *t = redact(t, &hits, d);
            }
            if let Some(kind) = drop_kind {
                out.pii_redacted = [0; 8];
                let scrubbed = self.scrub_value(parsed.record.to_json(&parsed.extras));
                out.outcome = Err(reject("pii", kind.key(), format!("contains {} (action drop)", kind.key()), scrubbed));
                return out;
            }
        }
        let as_json = |p: &Parsed| p.record.to_json(&p.extras);
        if let Some((check, reason)) = self.structure.check(&parsed.record) {
            out.outcome = Err(reject("structure", check, reason, as_json(&parsed)));
            return out;
        }
        let needs_text = self.language.is_some() || self.quality.is_some() || self.policy.is_some() || self.decontam.is_some();
        let text = if needs_text { parsed.record.full_text() } else { String::new() };
        let mut lang = None;
        if let Some(f) = &self.language {
            let d = LanguageFilter::detect(&text);
            lang = d.code.map(String::from);
            if let Err(reason) = f.check(&d) {
                let check = if d.code.is_none() {
                    "undetected"
                } else if reason.contains("not in keep") {
                    "not_kept"
                } else {
                    "low_confidence"
                };
                out.outcome = Err(reject("language", check, reason, as_json(&parsed)));
                return out;
            }
        }
        if let Some(q) = &self.quality {
            if let Some(f) = q.check(&text) {
                out.outcome = Err(reject("quality", f.check, f.reason, as_json(&parsed)));
                return out;
            }
        }
        let mut flags = Vec::new();
        if let Some(p) = &self.policy {
            for hit in p.check(&text) {
                let cat = &p.categories[hit.category];
                match cat.action {
                    PolicyAction::Drop => {
                        out.outcome = Err(reject("policy", &cat.name, format!("matched {:?}", hit.matched), as_json(&parsed)));
                        return out;
                    }
                    PolicyAction::Flag => flags.push(cat.name.clone()),
                }
            }
        }
        if let Some(d) = &self.decontam {
            if let Some(gram) = d.check(&text) {
                out.outcome = Err(reject(
                    "decontamination",
                    "ngram_overlap",
                    format!("shares the {}-gram {gram:?} with an eval set", gram.split(' ').count()),
                    as_json(&parsed),
                ));
                return out;
            }
        }
        out.outcome = Ok(Kept { idx, source, line, parsed, lang, flags });
        out
    }
}

/// Keys stage 2 needs of a kept record, computed in parallel.
struct Stage2Keys {
    exact: Vec<(super::config::DedupKey, u128)>,
    near: Option<NearKeys>,
    line: String,
    hash: u64,
    bias: Vec<u32>,
    chars: u64,
    stratum: Option<String>,
}

/// What the split pass needs of a kept record.
struct KeptMeta {
    hash: u64,
    stratum: u32,
    bias: Vec<u32>,
    chars: u64,
    source: u32,
    line: u64,
    flags: Vec<String>,
}

/// Files written as `name.partial` and renamed on success.
struct Outputs {
    dir: PathBuf,
    partial: Vec<(PathBuf, PathBuf)>,
}

impl Outputs {
    fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), err: source })?;
        Ok(Outputs { dir: dir.to_path_buf(), partial: Vec::new() })
    }

    fn create(&mut self, name: &str) -> Result<Writer> {
        let fin = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.partial"));
        let f = File::create(&tmp).map_err(|source| Error::Io { path: tmp.clone(), err: source })?;
        self.partial.push((tmp.clone(), fin));
        Ok(Writer { path: tmp, w: BufWriter::with_capacity(1 << 20, f) })
    }

    fn write_file(&mut self, name: &str, content: &str) -> Result<()> {
        let mut w = self.create(name)?;
        w.write(content.as_bytes())?;
        w.finish()
    }

    fn commit(self) -> Result<Vec<PathBuf>> {
        // A previous run's split files that this run does not write (train.jsonl after a k-fold
        // run, fold files after a plain one, Parquet copies, which are rewritten after this when
        // asked for) would read as part of this run: remove them.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let stem = name.strip_suffix(".jsonl").or_else(|| name.strip_suffix(".parquet"));
                let split_file = stem.is_some_and(|s| s == "train" || s.starts_with("train.fold-"))
                    || name == "valid.parquet"
                    || name == "test.parquet";
                if split_file && !self.partial.iter().any(|(_, fin)| fin.file_name() == Some(e.file_name().as_os_str())) {
                    std::fs::remove_file(e.path()).map_err(|err| Error::Io { path: e.path(), err })?;
                }
            }
        }
        let mut done = Vec::new();
        for (tmp, fin) in self.partial {
            std::fs::rename(&tmp, &fin).map_err(|source| Error::Io { path: fin.clone(), err: source })?;
            done.push(fin);
        }
        Ok(done)
    }
}

struct Writer {
    path: PathBuf,
    w: BufWriter<File>,
}

impl Writer {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes).map_err(|source| Error::Io { path: self.path.clone(), err: source })
    }

    fn line(&mut self, v: &Value) -> Result<()> {
        let mut s = v.to_string();
        s.push('\n');
        self.write(s.as_bytes())
    }

    fn finish(mut self) -> Result<()> {
        self.w.flush().map_err(|source| Error::Io { path: self.path.clone(), err: source })
    }
}

/// What a finished run reports back.
#[derive(Debug, Clone)]
pub struct Summary {
    pub out_dir: PathBuf,
    pub stats: Stats,
    pub files: Vec<PathBuf>,
}

/// One run's mutable state.
struct Run<'p> {
    p: &'p Pipeline,
    out: Outputs,
    rejects: Writer,
    stats: Stats,
    exact: Option<ExactIndex>,
    near: Option<NearIndex>,
    kept_tmp: Option<Writer>,
    kept: Vec<KeptMeta>,
    strata: HashMap<String, u32>,
    processed: u64,
}

impl<'p> Run<'p> {
    fn new(p: &'p Pipeline, dir: &Path, with_stage2: bool) -> Result<Self> {
        let mut out = Outputs::new(dir)?;
        let rejects = out.create("rejects.jsonl")?;
        let kept_tmp = if with_stage2 {
            // Not an output: written and read back by `finish`, then removed.
            let path = dir.join("kept.tmp");
            let f = File::create(&path).map_err(|source| Error::Io { path: path.clone(), err: source })?;
            Some(Writer { path, w: BufWriter::with_capacity(1 << 20, f) })
        } else {
            None
        };
        Ok(Run {
            p,
            out,
            rejects,
            stats: Stats::default(),
            exact: p.cfg.exact_dedup.as_ref().map(|_| ExactIndex::default()),
            near: p.cfg.near_dedup.as_ref().map(|n| NearIndex::new(n.bands, n.threshold)),
            kept_tmp,
            kept: Vec::new(),
            strata: HashMap::new(),
            processed: 0,
        })
    }

    fn source_name(&self, s: u32) -> String {
        self.p.cfg.sources.get(s as usize).map(|s| s.name.clone()).unwrap_or_default()
    }

    fn reject(&mut self, r: Rejected) -> Result<()> {
        let src = self.p.cfg.sources.get(r.source as usize);
        if r.rule == "malformed" && self.p.cfg.on_error == OnError::Fail {
            return Err(Error::Malformed {
                path: src.map(|s| s.path.clone()).unwrap_or_default(),
                line: r.line,
                message: format!("{} (set on_error = \"skip\" in the config to send bad records to rejects.jsonl)", r.reason),
            });
        }
        let text = value_text(&r.record);
        let ex = Example {
            idx: r.idx,
            source: self.source_name(r.source),
            line: r.line,
            check: r.check.clone(),
            reason: r.reason.clone(),
            excerpt: excerpt(&text, 160),
        };
        self.stats.reject(r.rule, ex, self.p.cfg.report.examples_per_rule);
        self.rejects.line(&json!({
            "rule": r.rule,
            "check": r.check,
            "reason": r.reason,
            "source": self.source_name(r.source),
            "file": src.map(|s| s.path.display().to_string()).unwrap_or_default(),
            "line": r.line,
            "record": r.record,
        }))
    }

    /// Stage 1 over a chunk; returns the survivors in input order.
    fn stage1(&mut self, chunk: Vec<Item>) -> Result<Vec<Kept>> {
        let p = self.p;
        let results: Vec<Stage1> = chunk.into_par_iter().map(|it| p.stage1(it)).collect();
        let mut kept = Vec::with_capacity(results.len());
        for r in results {
            self.stats.input += 1;
            let src = match &r.outcome {
                Ok(k) => k.source,
                Err(j) => j.source,
            };
            *self.stats.input_by_source.entry(self.source_name(src)).or_default() += 1;
            if let Some(f) = r.format {
                *self.stats.input_formats.entry(f.to_string()).or_default() += 1;
            }
            self.stats.normalized += u64::from(r.normalized);
            for k in PiiKind::ALL {
                let (f, d) = (r.pii_found[k.index()], r.pii_redacted[k.index()]);
                if f > 0 {
                    *self.stats.pii_found.entry(k.key().to_string()).or_default() += u64::from(f);
                }
                if d > 0 {
                    *self.stats.pii_redacted.entry(k.key().to_string()).or_default() += u64::from(d);
                }
            }
            match r.outcome {
                Ok(k) => kept.push(k),
                Err(j) => self.reject(j)?,
            }
        }
        Ok(kept)
    }

    /// Dedup in input order; survivors go to the kept temp file.
    fn stage2(&mut self, kept: Vec<Kept>) -> Result<()> {
        let p = self.p;
        let cfg = &p.cfg;
        let keys: Vec<Stage2Keys> = kept
            .par_iter()
            .map(|k| {
                let record = &k.parsed.record;
                let value = record.to_json(&k.parsed.extras);
                let line = value.to_string();
                let text = record.full_text();
                Stage2Keys {
                    exact: cfg.exact_dedup.as_ref().map(|e| exact_keys(record, &e.keys)).unwrap_or_default(),
                    near: p.hasher.as_ref().map(|h| NearKeys::of(h, &text)),
                    hash: stable_hash(line.as_bytes(), cfg.seed),
                    bias: p.bias.as_ref().map(|b| b.count(&text)).unwrap_or_default(),
                    chars: text.chars().count() as u64,
                    stratum: cfg.split.stratify_by.as_ref().map(|f| match k.parsed.extras.get(f) {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => String::new(),
                    }),
                    line,
                }
            })
            .collect();
        for (k, keys) in kept.into_iter().zip(keys) {
            let loc = Loc { source: k.source, line: k.line };
            let value = || serde_json::from_str::<Value>(&keys.line).unwrap_or(Value::Null);
            if let Some(idx) = &mut self.exact {
                if let Some((key, first)) = idx.check_and_insert(&keys.exact, loc) {
                    let reason = format!("same {} as {}:{}", key_name(key), self.source_name(first.source), first.line);
                    self.reject(Rejected { idx: k.idx, source: k.source, line: k.line, rule: "exact_dedup", check: key_name(key).to_string(), reason, record: value() })?;
                    continue;
                }
            }
            if let (Some(idx), Some(nk)) = (&mut self.near, keys.near) {
                if let Some((first, j)) = idx.check_and_insert(nk, loc) {
                    let reason = format!("Jaccard {j:.3} with {}:{}", self.source_name(first.source), first.line);
                    self.reject(Rejected { idx: k.idx, source: k.source, line: k.line, rule: "near_dedup", check: "minhash".into(), reason, record: value() })?;
                    continue;
                }
            }
            let next = self.strata.len() as u32;
            let stratum = keys.stratum.map(|s| *self.strata.entry(s).or_insert(next)).unwrap_or(0);
            if let Some(l) = &k.lang {
                *self.stats.languages.entry(l.clone()).or_default() += 1;
            }
            for f in &k.flags {
                *self.stats.policy_flagged.entry(f.clone()).or_default() += 1;
            }
            if let Some(w) = &mut self.kept_tmp {
                w.write(keys.line.as_bytes())?;
                w.write(b"\n")?;
            }
            self.kept.push(KeptMeta { hash: keys.hash, stratum, bias: keys.bias, chars: keys.chars, source: k.source, line: k.line, flags: k.flags });
        }
        Ok(())
    }

    /// Assigns splits, copies kept records to the split files, writes report, card and run
    /// record, and renames everything into place.
    fn finish(mut self) -> Result<Summary> {
        let cfg = &self.p.cfg;
        let tmp = self.kept_tmp.take().ok_or_else(|| Error::Internal { message: "finish without stage 2".into() })?;
        let tmp_path = tmp.path.clone();
        tmp.finish()?;
        let assign: Vec<SplitName> = if cfg.split.stratify_by.is_some() {
            stratified(&self.kept.iter().map(|m| (m.stratum, m.hash)).collect::<Vec<_>>(), &cfg.split)
        } else {
            self.kept.iter().map(|m| by_hash(m.hash, &cfg.split)).collect()
        };
        let k = cfg.split.kfold;
        let mut train_files = Vec::new();
        if k >= 2 {
            for f in 0..k {
                train_files.push(self.out.create(&format!("train.fold-{f}.jsonl"))?);
            }
        } else {
            train_files.push(self.out.create("train.jsonl")?);
        }
        let mut valid = self.out.create("valid.jsonl")?;
        let mut test = self.out.create("test.jsonl")?;
        let mut flags = self.out.create("flags.jsonl")?;
        let reader = BufReader::new(File::open(&tmp_path).map_err(|source| Error::Io { path: tmp_path.clone(), err: source })?);
        let mut splits: std::collections::BTreeMap<String, SplitStats> = Default::default();
        let mut n = 0usize;
        for (line, (meta, split)) in reader.lines().zip(self.kept.iter().zip(&assign)) {
            let line = line.map_err(|source| Error::Io { path: tmp_path.clone(), err: source })?;
            n += 1;
            let w = match split {
                SplitName::Train if k >= 2 => {
                    let f = fold(meta.hash, k);
                    let st = splits.entry("train".into()).or_default();
                    if st.folds.len() < k {
                        st.folds.resize(k, 0);
                    }
                    st.folds[f] += 1;
                    &mut train_files[f]
                }
                SplitName::Train => &mut train_files[0],
                SplitName::Valid => &mut valid,
                SplitName::Test => &mut test,
            };
            w.write(line.as_bytes())?;
            w.write(b"\n")?;
            let st = splits.entry(split.name().to_string()).or_default();
            st.add_length(meta.chars);
            if let Some(b) = &self.p.bias {
                b.add(&mut st.bias, &meta.bias);
            }
            if !meta.flags.is_empty() {
                flags.line(&json!({"source": self.source_name(meta.source), "line": meta.line, "split": split.name(), "categories": meta.flags}))?;
            }
        }
        if n != self.kept.len() {
            return Err(Error::Internal { message: format!("kept file has {n} lines, expected {}", self.kept.len()) });
        }
        for w in train_files.into_iter().chain([valid, test, flags]) {
            w.finish()?;
        }
        self.rejects.finish()?;
        for s in SplitName::ALL {
            splits.entry(s.name().to_string()).or_default();
        }
        self.stats.splits = splits;
        self.stats.kept = self.kept.len() as u64;
        if !self.stats.identity_holds() {
            return Err(Error::Internal {
                message: format!(
                    "accounting: input {} != kept {} + dropped {}",
                    self.stats.input,
                    self.stats.kept,
                    self.stats.dropped_total()
                ),
            });
        }
        let groups = self.p.bias.as_ref().map(|b| b.groups.clone()).unwrap_or_default();
        let report = json!({
            "identity": {
                "input": self.stats.input,
                "kept": self.stats.kept,
                "dropped": self.stats.dropped_total(),
                "holds": self.stats.identity_holds(),
            },
            "stats": self.stats,
        });
        self.out.write_file("report.json", &serde_json::to_string_pretty(&report).unwrap_or_default())?;
        self.out.write_file("report.md", &self.stats.markdown(&groups))?;
        let sources = super::card::source_fingerprints(cfg)?;
        self.out.write_file("dataset_card.md", &super::card::dataset_card(cfg, &self.stats, &sources))?;
        let run = json!({
            "whet_version": env!("CARGO_PKG_VERSION"),
            "seed": cfg.seed,
            "sources": sources,
            "config": cfg,
        });
        self.out.write_file("run.json", &serde_json::to_string_pretty(&run).unwrap_or_default())?;
        let out_dir = self.out.dir.clone();
        let mut files = self.out.commit()?;
        if cfg.split.parquet {
            let splits: Vec<PathBuf> = files
                .iter()
                .filter(|f| {
                    let n = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    n.ends_with(".jsonl") && (n.starts_with("train") || n == "valid.jsonl" || n == "test.jsonl")
                })
                .cloned()
                .collect();
            for f in splits {
                if let Some(p) = super::parquet_export::jsonl_to_parquet(&f)? {
                    files.push(p);
                }
            }
        }
        let _ = std::fs::remove_file(&tmp_path);
        Ok(Summary { out_dir, stats: self.stats, files })
    }
}

/// The text of a record for report excerpts: its string values (roles left out), joined.
fn value_text(v: &Value) -> String {
    fn walk(v: &Value, key: &str, out: &mut Vec<String>) {
        match v {
            Value::String(s) if key != "role" => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
            Value::Object(o) => o.iter().for_each(|(k, x)| walk(x, k, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.join(" | ")
}

/// Streams every source, calling `f` with chunks of items (only this shard's records).
fn for_each_chunk(cfg: &PrepConfig, shard: Option<Shard>, mut f: impl FnMut(Vec<Item>) -> Result<()>) -> Result<()> {
    let mut idx = 0u64;
    let mut chunk = Vec::with_capacity(CHUNK);
    for (s, src) in cfg.sources.iter().enumerate() {
        let mut rows = 0u64;
        for row in RowReader::open(&src.path)? {
            let row = row?;
            rows += 1;
            let i = idx;
            idx += 1;
            if let Some(sh) = shard {
                if i % u64::from(sh.count) != u64::from(sh.index) {
                    continue;
                }
            }
            chunk.push(Item { idx: i, source: s as u32, row });
            if chunk.len() == CHUNK {
                f(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))?;
            }
        }
        if rows == 0 {
            return Err(Error::BadFile { path: src.path.clone(), message: "no records (only blank lines)".into() });
        }
    }
    if !chunk.is_empty() {
        f(chunk)?;
    }
    Ok(())
}

/// Runs the whole pipeline; `progress` gets the number of records processed so far.
pub fn run(cfg: &PrepConfig, progress: &(dyn Fn(u64) + Sync)) -> Result<Summary> {
    let p = Pipeline::new(cfg)?;
    let mut r = Run::new(&p, &cfg.out_dir, true)?;
    for_each_chunk(cfg, None, |chunk| {
        let n = chunk.len() as u64;
        let kept = r.stage1(chunk)?;
        r.stage2(kept)?;
        r.processed += n;
        progress(r.processed);
        Ok(())
    })?;
    r.finish()
}

/// Runs stage 1 on one shard; writes `survivors.jsonl`, `rejects.jsonl` and `stats.json` to
/// `out_dir/shard-I-of-N/`.
pub fn run_shard(cfg: &PrepConfig, shard: Shard, progress: &(dyn Fn(u64) + Sync)) -> Result<PathBuf> {
    let p = Pipeline::new(cfg)?;
    let dir = cfg.out_dir.join(shard.dir_name());
    let mut r = Run::new(&p, &dir, false)?;
    let mut survivors = r.out.create("survivors.jsonl")?;
    for_each_chunk(cfg, Some(shard), |chunk| {
        let n = chunk.len() as u64;
        for k in r.stage1(chunk)? {
            let v = serde_json::to_value(&k).map_err(|e| Error::Internal { message: e.to_string() })?;
            survivors.line(&v)?;
        }
        r.processed += n;
        progress(r.processed);
        Ok(())
    })?;
    survivors.finish()?;
    r.rejects.finish()?;
    let stats = serde_json::to_string_pretty(&r.stats).map_err(|e| Error::Internal { message: e.to_string() })?;
    // stats.json is renamed last: its presence marks a finished shard.
    r.out.write_file("stats.json", &stats)?;
    r.out.commit()?;
    Ok(dir)
}

/// Finishes a sharded run: dedup across all shards' survivors in input order, then splits and
/// reports, as one run would.
pub fn merge(cfg: &PrepConfig, count: u32, progress: &(dyn Fn(u64) + Sync)) -> Result<Summary> {
    let p = Pipeline::new(cfg)?;
    let dirs: Vec<PathBuf> = (0..count).map(|i| cfg.out_dir.join(Shard { index: i, count }.dir_name())).collect();
    for (i, d) in dirs.iter().enumerate() {
        if !d.join("stats.json").exists() {
            return Err(Error::BadFile {
                path: d.clone(),
                message: format!("shard {i}/{count} is missing or unfinished: run `whet data prep CONFIG --shard {i}/{count}` first"),
            });
        }
    }
    let mut r = Run::new(&p, &cfg.out_dir, true)?;
    for d in &dirs {
        let path = d.join("stats.json");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), err: source })?;
        let s: Stats = serde_json::from_str(&text).map_err(|e| Error::BadFile { path: path.clone(), message: e.to_string() })?;
        r.stats.absorb(&s, cfg.report.examples_per_rule);
        let rej = d.join("rejects.jsonl");
        let mut f = File::open(&rej).map_err(|source| Error::Io { path: rej.clone(), err: source })?;
        std::io::copy(&mut f, &mut r.rejects.w).map_err(|source| Error::Io { path: rej.clone(), err: source })?;
    }
    // k-way merge of the survivors by global index.
    let mut readers = Vec::new();
    for d in &dirs {
        let path = d.join("survivors.jsonl");
        let f = File::open(&path).map_err(|source| Error::Io { path: path.clone(), err: source })?;
        readers.push((path, BufReader::new(f).lines().enumerate()));
    }
    let next = |i: usize, readers: &mut Vec<(PathBuf, _)>| -> Result<Option<Kept>> {
        let (path, it): &mut (PathBuf, std::iter::Enumerate<std::io::Lines<BufReader<File>>>) = &mut readers[i];
        match it.next() {
            None => Ok(None),
            Some((n, line)) => {
                let line = line.map_err(|source| Error::Io { path: path.clone(), err: source })?;
                serde_json::from_str(&line).map(Some).map_err(|e| Error::Malformed { path: path.clone(), line: n as u64 + 1, message: e.to_string() })
            }
        }
    };
    let mut heap = BinaryHeap::new();
    let mut pending: Vec<Option<Kept>> = Vec::new();
    for i in 0..readers.len() {
        let k = next(i, &mut readers)?;
        if let Some(k) = &k {
            heap.push(std::cmp::Reverse((k.idx, i)));
        }
        pending.push(k);
    }
    let mut chunk = Vec::with_capacity(CHUNK);
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        if let Some(k) = pending[i].take() {
            chunk.push(k);
        }
        let k = next(i, &mut readers)?;
        if let Some(k) = &k {
            heap.push(std::cmp::Reverse((k.idx, i)));
        }
        pending[i] = k;
        if chunk.len() == CHUNK {
            r.processed += chunk.len() as u64;
            r.stage2(std::mem::take(&mut chunk))?;
            progress(r.processed);
        }
    }
    if !chunk.is_empty() {
        r.stage2(chunk)?;
    }
    r.finish()
}

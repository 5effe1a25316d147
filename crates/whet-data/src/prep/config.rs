//! The `whet data prep` config: a TOML file, read with `deny_unknown_fields` and validated
//! in full before any record is read.
//!
//! Every step is a section; a step runs when its section is present (`[normalize]` and
//! `[structure]` run with defaults when absent; write `enabled = false` to turn them off).
//! An unknown key is an error that names the key, its line, and the nearest valid key
//! (Jaro-Winkler similarity from `strsim`). Relative paths are resolved against the config
//! file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::formats::Format;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepConfig {
    /// Where splits, rejects, report and card go.
    pub out_dir: PathBuf,
    /// Seed for splits (and MinHash permutations).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// What a malformed input line does: stop the run, or go to rejects.
    #[serde(default)]
    pub on_error: OnError,
    pub sources: Vec<Source>,
    #[serde(default)]
    pub normalize: Normalize,
    #[serde(default)]
    pub structure: Structure,
    pub language: Option<Language>,
    pub quality: Option<Quality>,
    pub pii: Option<Pii>,
    pub policy: Option<Policy>,
    pub decontamination: Option<Decontamination>,
    pub exact_dedup: Option<ExactDedup>,
    pub near_dedup: Option<NearDedup>,
    pub bias: Option<Bias>,
    #[serde(default)]
    pub split: Split,
    #[serde(default)]
    pub report: ReportOptions,
}

fn default_seed() -> u64 {
    42
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    #[default]
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub name: String,
    pub path: PathBuf,
    #[serde(default = "default_format")]
    pub format: Format,
    pub license: Option<String>,
    pub notes: Option<String>,
    /// Where the data came from (URL, system, team).
    pub origin: Option<String>,
}

fn default_format() -> Format {
    Format::Auto
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HtmlMode {
    /// Convert fields that look like HTML documents to plain text.
    #[default]
    Strip,
    Keep,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Normalize {
    pub enabled: bool,
    pub nfc: bool,
    /// Remove control characters (not tab/newline) and zero-width characters.
    pub strip_control: bool,
    /// CRLF → LF, odd spaces → space, trailing spaces cut, 3+ newlines → 2, trim.
    pub whitespace: bool,
    pub html: HtmlMode,
    /// Repair UTF-8 text that was decoded as Windows-1252 ("cafÃ©" → "café").
    pub fix_mojibake: bool,
}

impl Default for Normalize {
    fn default() -> Self {
        Normalize {
            enabled: true,
            nfc: true,
            strip_control: true,
            whitespace: true,
            html: HtmlMode::Strip,
            fix_mojibake: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Structure {
    pub enabled: bool,
    /// Chat roles that may appear.
    pub roles: Vec<String>,
    /// A chat must end with a non-empty assistant turn.
    pub require_assistant: bool,
    /// Largest total token count (needs `tokenizer`).
    pub max_tokens: Option<usize>,
    /// A Hugging Face `tokenizer.json` for `max_tokens`.
    pub tokenizer: Option<PathBuf>,
    /// A chat template every chat and preference record must render through: a built-in name
    /// (`chatml`, `llama3`) or a Jinja file. Records it refuses are dropped with its message.
    pub chat_template: Option<String>,
}

impl Default for Structure {
    fn default() -> Self {
        Structure {
            enabled: true,
            roles: ["system", "user", "assistant", "tool"].map(String::from).to_vec(),
            require_assistant: true,
            max_tokens: None,
            tokenizer: None,
            chat_template: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    /// ISO 639-3 codes as `whatlang` names them (`eng`, `deu`, `fra`, ...).
    pub keep: Vec<String>,
    #[serde(default = "default_lang_conf")]
    pub min_confidence: f64,
}

fn default_lang_conf() -> f64 {
    0.5
}

/// Gopher / C4 / FineWeb-style document heuristics. Each threshold is off when absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quality {
    pub min_words: Option<usize>,
    pub max_words: Option<usize>,
    pub min_mean_word_length: Option<f64>,
    pub max_mean_word_length: Option<f64>,
    /// Largest ratio of `#` and `...`/`…` to words (Gopher: 0.1).
    pub max_symbol_word_ratio: Option<f64>,
    /// Smallest fraction of words containing a letter (Gopher: 0.8).
    pub min_alpha_word_fraction: Option<f64>,
    /// Largest fraction of characters that are neither letters nor whitespace.
    pub max_non_alpha_char_ratio: Option<f64>,
    /// Largest fraction of lines starting with a bullet (Gopher: 0.9).
    pub max_bullet_line_fraction: Option<f64>,
    /// Largest fraction of lines ending with an ellipsis (Gopher: 0.3).
    pub max_ellipsis_line_fraction: Option<f64>,
    /// Largest fraction of lines that repeat an earlier line (Gopher: 0.3).
    pub max_duplicate_line_fraction: Option<f64>,
    /// Largest fraction of paragraphs that repeat an earlier paragraph (Gopher: 0.3).
    pub max_duplicate_paragraph_fraction: Option<f64>,
    /// Largest share of characters covered by the most frequent 2-, 3- and 4-gram
    /// (Gopher: 0.20, 0.18, 0.16), as `[f2, f3, f4]`.
    pub max_top_ngram_fraction: Option<[f64; 3]>,
    /// Largest share of characters in duplicated 5..=10-grams (Gopher: 0.15 .. 0.10), as six
    /// values for n = 5, 6, 7, 8, 9, 10.
    pub max_duplicate_ngram_fraction: Option<[f64; 6]>,
    /// At least this many of `stop_words` must occur (Gopher: 2 of the, be, to, of, and, that,
    /// have, with). English-only; leave out for other languages.
    pub min_stop_words: Option<usize>,
    pub stop_words: Vec<String>,
    /// Case-insensitive phrases that mark boilerplate (C4: "lorem ipsum", "enable javascript").
    pub boilerplate_phrases: Vec<String>,
    /// Smallest fraction of non-empty lines ending in terminal punctuation (C4-style).
    pub min_terminal_punct_line_fraction: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiAction {
    Redact,
    Drop,
    /// Count only.
    Keep,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pii {
    /// Action for types not listed in `actions`.
    #[serde(default = "default_pii_action")]
    pub default_action: PiiAction,
    /// Per-type action: keys `email`, `phone`, `ip_address`, `credit_card`, `iban`,
    /// `national_id`, `secret`, `url_credentials`.
    #[serde(default)]
    pub actions: BTreeMap<String, PiiAction>,
}

fn default_pii_action() -> PiiAction {
    PiiAction::Redact
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A TOML file of `[[category]]` tables (see `policy.rs`).
    pub file: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decontamination {
    /// Evaluation sets (any supported format); their word n-grams are the blocklist.
    pub eval_sets: Vec<PathBuf>,
    #[serde(default = "default_decon_n")]
    pub ngram: usize,
}

fn default_decon_n() -> usize {
    13
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupKey {
    Prompt,
    Response,
    Both,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactDedup {
    /// Which texts make a duplicate: `both` (prompt and response together), `prompt`,
    /// `response`. A record is dropped when any listed key was seen before.
    #[serde(default = "default_dedup_keys")]
    pub keys: Vec<DedupKey>,
}

fn default_dedup_keys() -> Vec<DedupKey> {
    vec![DedupKey::Both]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearDedup {
    /// Words per shingle.
    #[serde(default = "default_ngram")]
    pub ngram: usize,
    #[serde(default = "default_bands")]
    pub bands: usize,
    #[serde(default = "default_rows")]
    pub rows: usize,
    /// Candidates whose true Jaccard similarity of shingle sets is at least this are duplicates.
    #[serde(default = "default_jaccard")]
    pub threshold: f64,
}

fn default_ngram() -> usize {
    5
}
fn default_bands() -> usize {
    14
}
fn default_rows() -> usize {
    8
}
fn default_jaccard() -> f64 {
    0.8
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bias {
    pub groups: Vec<BiasGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiasGroup {
    pub name: String,
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Split {
    pub train: f64,
    pub valid: f64,
    pub test: f64,
    /// An `extras` field whose value picks the stratum; each stratum is split in the ratios.
    pub stratify_by: Option<String>,
    /// Write the train split as k fold files instead of one file (0 = off).
    pub kfold: usize,
    /// Also write each split as Parquet (`train.parquet`, ...).
    pub parquet: bool,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            train: 0.9,
            valid: 0.05,
            test: 0.05,
            stratify_by: None,
            kfold: 0,
            parquet: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportOptions {
    /// Examples kept per rule in the report.
    pub examples_per_rule: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            examples_per_rule: 3,
        }
    }
}

impl PrepConfig {
    /// Reads, parses and validates a config file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_overrides(path, &[])
    }

    /// Like [`PrepConfig::load`], with `key.path=value` overrides (`--set`) applied before
    /// validation; a value is read as TOML (`0.5`, `true`, `["eng"]`) or else as a string.
    pub fn load_with_overrides(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            err: source,
        })?;
        let mut cfg = if overrides.is_empty() {
            Self::parse(&text, path)?
        } else {
            let mut doc: toml::Table = toml::from_str(&text).map_err(|e| toml_error(&e, &text, path))?;
            for o in overrides {
                apply_override(&mut doc, o, path)?;
            }
            toml::Value::Table(doc).try_into().map_err(|e: toml::de::Error| {
                let mut err = toml_error(&e, "", path);
                if let Error::Config { location, .. } = &mut err {
                    *location = "(with --set) ".into();
                }
                err
            })?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// A config without a file (`whet data prep --input A --input B --out DIR`): the given
    /// files as sources (format detected), default normalisation and structure checks, PII
    /// redaction of every type, exact and MinHash dedup, 90/5/5 hash splits, malformed lines to
    /// rejects. `--set` overrides apply as with a file.
    pub fn from_inputs(inputs: &[PathBuf], out_dir: &Path, overrides: &[String]) -> Result<Self> {
        let origin = Path::new("(command line)");
        let mut doc = toml::Table::new();
        doc.insert("out_dir".into(), toml::Value::String(out_dir.display().to_string()));
        doc.insert("on_error".into(), toml::Value::String("skip".into()));
        let mut sources = Vec::new();
        for (i, p) in inputs.iter().enumerate() {
            let stem = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| format!("input{i}"));
            let mut t = toml::Table::new();
            t.insert("name".into(), toml::Value::String(format!("{i}:{stem}")));
            t.insert("path".into(), toml::Value::String(p.display().to_string()));
            sources.push(toml::Value::Table(t));
        }
        doc.insert("sources".into(), toml::Value::Array(sources));
        for section in ["pii", "exact_dedup", "near_dedup"] {
            doc.insert(section.into(), toml::Value::Table(toml::Table::new()));
        }
        for o in overrides {
            apply_override(&mut doc, o, origin)?;
        }
        let cfg: PrepConfig = toml::Value::Table(doc).try_into().map_err(|e: toml::de::Error| toml_error(&e, "", origin))?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| toml_error(&e, text, path))
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = lexical_join(base, p);
            }
        };
        fix(&mut self.out_dir);
        for s in &mut self.sources {
            fix(&mut s.path);
        }
        if let Some(t) = &mut self.structure.tokenizer {
            fix(t);
        }
        if let Some(t) = &mut self.structure.chat_template {
            let candidate = lexical_join(base, Path::new(t.as_str()));
            if Path::new(t.as_str()).is_relative() && candidate.is_file() {
                *t = candidate.display().to_string();
            }
        }
        if let Some(p) = &mut self.policy {
            fix(&mut p.file);
        }
        if let Some(d) = &mut self.decontamination {
            d.eval_sets.iter_mut().for_each(fix);
        }
    }

    /// Checks every value that can be checked without reading the data.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, message: String| Error::Config {
            path: path.to_path_buf(),
            location: String::new(),
            key: key.to_string(),
            message,
        };
        if self.sources.is_empty() {
            return Err(bad("sources", "no sources: add at least one [[sources]] table with `name` and `path`".into()));
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if !names.insert(&s.name) {
                return Err(bad(&format!("sources[{i}].name"), format!("duplicate source name {:?}: names must be unique", s.name)));
            }
            crate::records::Container::from_path(&s.path).map_err(|e| bad(&format!("sources[{i}].path"), e.to_string()))?;
            match std::fs::metadata(&s.path) {
                Err(e) => return Err(bad(&format!("sources[{i}].path"), format!("{}: {e}", s.path.display()))),
                Ok(m) if m.len() == 0 => {
                    return Err(bad(&format!("sources[{i}].path"), format!("{} is empty: nothing to prepare", s.path.display())))
                }
                Ok(_) => {}
            }
        }
        let fracs = [("split.train", self.split.train), ("split.valid", self.split.valid), ("split.test", self.split.test)];
        for (k, f) in fracs {
            if !(0.0..=1.0).contains(&f) {
                return Err(bad(k, format!("{f} is not a fraction between 0 and 1")));
            }
        }
        let sum = self.split.train + self.split.valid + self.split.test;
        if (sum - 1.0).abs() > 1e-6 {
            return Err(bad("split", format!("train + valid + test = {sum}, must be 1")));
        }
        if self.split.kfold == 1 {
            return Err(bad("split.kfold", "1 fold is no folds: use 0 (off) or at least 2".into()));
        }
        if let Some(l) = &self.language {
            if l.keep.is_empty() {
                return Err(bad("language.keep", "empty: list the ISO 639-3 codes to keep, e.g. [\"eng\"]".into()));
            }
            for code in &l.keep {
                if whatlang::Lang::from_code(code.as_str()).is_none() {
                    return Err(bad("language.keep", format!("{code:?} is not a language code whatlang knows (ISO 639-3, e.g. \"eng\", \"deu\", \"fra\")")));
                }
            }
            if !(0.0..=1.0).contains(&l.min_confidence) {
                return Err(bad("language.min_confidence", format!("{} is not between 0 and 1", l.min_confidence)));
            }
        }
        if let Some(n) = &self.near_dedup {
            if n.ngram == 0 || n.bands == 0 || n.rows == 0 {
                return Err(bad("near_dedup", "ngram, bands and rows must all be at least 1".into()));
            }
            if n.bands * n.rows > 1024 {
                return Err(bad("near_dedup", format!("bands × rows = {} permutations; at most 1024", n.bands * n.rows)));
            }
            if !(n.threshold > 0.0 && n.threshold <= 1.0) {
                return Err(bad("near_dedup.threshold", format!("{} is not in (0, 1]", n.threshold)));
            }
        }
        if let Some(p) = &self.pii {
            for k in p.actions.keys() {
                if crate::prep::pii::PiiKind::from_key(k).is_none() {
                    let names = crate::prep::pii::PiiKind::ALL.map(|k| k.key());
                    return Err(bad(&format!("pii.actions.{k}"), format!("unknown PII type{}; known: {}", suggest(k, &names), names.join(", "))));
                }
            }
        }
        if let Some(d) = &self.decontamination {
            if d.ngram == 0 {
                return Err(bad("decontamination.ngram", "must be at least 1".into()));
            }
            for (i, p) in d.eval_sets.iter().enumerate() {
                if !p.exists() {
                    return Err(bad(&format!("decontamination.eval_sets[{i}]"), format!("{} does not exist", p.display())));
                }
            }
        }
        if let (Some(_), None) = (self.structure.max_tokens, &self.structure.tokenizer) {
            return Err(bad("structure.max_tokens", "needs `structure.tokenizer` (a tokenizer.json) to count tokens".into()));
        }
        if let Some(t) = &self.structure.tokenizer {
            if !t.exists() {
                return Err(bad("structure.tokenizer", format!("{} does not exist", t.display())));
            }
        }
        if let Some(p) = &self.policy {
            if !p.file.exists() {
                return Err(bad("policy.file", format!("{} does not exist", p.file.display())));
            }
        }
        if let Some(b) = &self.bias {
            for (i, g) in b.groups.iter().enumerate() {
                if g.terms.is_empty() {
                    return Err(bad(&format!("bias.groups[{i}].terms"), format!("group {:?} has no terms", g.name)));
                }
            }
        }
        if let Some(q) = &self.quality {
            if q.min_stop_words.is_some() && q.stop_words.is_empty() {
                return Err(bad("quality.stop_words", "`min_stop_words` is set but `stop_words` is empty".into()));
            }
        }
        Ok(())
    }
}

/// `base/rel` with `.` and `name/..` pairs removed, without touching the file system
/// (`configs/../assets/x` → `assets/x`), so paths in reports read cleanly.
pub fn lexical_join(base: &Path, rel: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Sets `a.b.c = value` in a TOML table, creating tables on the way.
fn apply_override(doc: &mut toml::Table, spec: &str, path: &Path) -> Result<()> {
    let bad = |message: String| Error::Config {
        path: path.to_path_buf(),
        location: "--set ".into(),
        key: spec.to_string(),
        message,
    };
    let (key, raw) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, e.g. --set near_dedup.threshold=0.85".into()))?;
    let key = key.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("empty key part".into()));
    }
    let mut table = doc;
    for p in &parts[..parts.len() - 1] {
        let entry = table
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| bad(format!("`{p}` is not a table")))?;
    }
    if let Some(last) = parts.last() {
        table.insert(last.to_string(), value);
    }
    Ok(())
}

/// `; did you mean `x`?` when some candidate is close to `key`, else empty.
pub fn suggest(key: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(key, c), *c))
        .filter(|(s, _)| *s > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with " (did you mean `a`?)" added when
/// one of the expected keys is close; any other message unchanged. For configs that report
/// serde's message in their own error type.
pub fn with_suggestion(message: &str) -> String {
    let message = message.trim_end();
    let Some(rest) = message.split("unknown field `").nth(1) else { return message.to_string() };
    let Some((field, expected)) = rest.split_once('`') else { return message.to_string() };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match suggest(field, &candidates).strip_prefix("; ") {
        Some(hint) => format!("{message} ({hint})"),
        None => message.to_string(),
    }
}

/// Turns a toml/serde error into one that names the line, the key and the nearest valid key.
pub fn toml_error(e: &toml::de::Error, text: &str, path: &Path) -> Error {
    let location = e
        .span()
        .map(|s| format!("line {}: ", text[..s.start.min(text.len())].matches('\n').count() + 1))
        .unwrap_or_default();
    let msg = e.message().trim().to_string();
    // serde's wording: "unknown field `bandz`, expected one of `ngram`, `bands`, ..."
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default().to_string();
        let expected: Vec<&str> = rest
            .split_once("expected")
            .map(|(_, tail)| tail.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        return Error::Config {
            path: path.to_path_buf(),
            location,
            key: key.clone(),
            message: format!(
                "unknown key{}; valid keys here: {}",
                suggest(&key, &expected),
                expected.join(", ")
            ),
        };
    }
    // Other errors (bad value, missing field): name the key from the offending line, and
    // suggest the nearest allowed value of an enum.
    let line_key = e
        .span()
        .and_then(|s| text.get(s.start..).map(|rest| (text[..s.start].rfind('\n').map_or(0, |i| i + 1), rest)))
        .and_then(|(start, _)| text[start..].lines().next())
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_start_matches('{').trim().to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let key = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
        .map(String::from)
        .or(line_key)
        .unwrap_or_default();
    let message = match msg.strip_prefix("unknown variant `") {
        Some(rest) => {
            let bad = rest.split('`').next().unwrap_or_default();
            let expected: Vec<&str> = rest
                .split_once("expected")
                .map(|(_, tail)| tail.split('`').skip(1).step_by(2).collect())
                .unwrap_or_default();
            format!("{msg}{}", suggest(bad, &expected))
        }
        None => msg,
    };
    Error::Config {
        path: path.to_path_buf(),
        location,
        key,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_line_and_nearest_valid_key() {
        let text = "out_dir = \"o\"\n[[sources]]\nname = \"a\"\npath = \"a.jsonl\"\n[near_dedup]\nbandz = 4\n";
        let err = PrepConfig::parse(text, Path::new("prep.toml")).expect_err("unknown key").to_string();
        assert!(err.contains("prep.toml: line 6: `bandz`"), "{err}");
        assert!(err.contains("did you mean `bands`?"), "{err}");
    }

    #[test]
    fn bad_enum_value_names_the_key_and_the_allowed_values() {
        let text = "out_dir = \"o\"\non_error = \"skipp\"\n";
        let err = PrepConfig::parse(text, Path::new("p.toml")).expect_err("bad value").to_string();
        assert!(err.contains("line 2: `on_error`") && err.contains("did you mean `skip`?"), "{err}");
    }

    #[test]
    fn set_overrides_values_and_unknown_override_keys_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\":\"a\"}\n").expect("write");
        let cfg_path = dir.path().join("p.toml");
        std::fs::write(&cfg_path, "out_dir = \"o\"\n[[sources]]\nname = \"a\"\npath = \"d.jsonl\"\n").expect("write");
        let cfg = PrepConfig::load_with_overrides(&cfg_path, &["near_dedup.threshold=0.9".into(), "seed=7".into(), "language.keep=[\"deu\"]".into()]).expect("valid");
        assert_eq!(cfg.near_dedup.as_ref().map(|n| n.threshold), Some(0.9));
        assert_eq!(cfg.seed, 7);
        assert_eq!(cfg.language.as_ref().map(|l| l.keep.clone()), Some(vec!["deu".to_string()]));
        let err = PrepConfig::load_with_overrides(&cfg_path, &["near_dedup.treshold=0.9".into()]).expect_err("unknown").to_string();
        assert!(err.contains("(with --set) `treshold`") && err.contains("did you mean `threshold`?"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder_without_dot_dot() {
        assert_eq!(lexical_join(Path::new("configs"), Path::new("../assets/a.jsonl")), PathBuf::from("assets/a.jsonl"));
        assert_eq!(lexical_join(Path::new(""), Path::new("a.jsonl")), PathBuf::from("a.jsonl"));
        assert_eq!(lexical_join(Path::new("../x"), Path::new("../../y")), PathBuf::from("../../y"));
    }

    #[test]
    fn inputs_without_a_config_file_make_a_valid_default_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.jsonl");
        std::fs::write(&a, "{\"text\":\"a\"}\n").expect("write");
        let cfg = PrepConfig::from_inputs(&[a.clone(), a], &dir.path().join("out"), &["seed=3".into()]).expect("valid");
        assert_eq!(cfg.sources.len(), 2);
        assert_ne!(cfg.sources[0].name, cfg.sources[1].name);
        assert!(cfg.pii.is_some() && cfg.exact_dedup.is_some() && cfg.near_dedup.is_some());
        assert_eq!((cfg.seed, cfg.on_error), (3, OnError::Skip));
    }

    #[test]
    fn misspelt_top_level_key_suggests_the_right_one() {
        let text = "out_dir = \"o\"\nsoruces = []\n";
        let err = PrepConfig::parse(text, Path::new("p.toml")).expect_err("unknown").to_string();
        assert!(err.contains("did you mean `sources`?"), "{err}");
    }

    #[test]
    fn split_fractions_must_sum_to_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("d.jsonl");
        std::fs::write(&data, "{\"text\":\"a\"}\n").expect("write");
        let text = format!(
            "out_dir = \"o\"\n[[sources]]\nname = \"a\"\npath = {:?}\n[split]\ntrain = 0.9\nvalid = 0.2\ntest = 0.0\n",
            data
        );
        let cfg = PrepConfig::parse(&text, Path::new("p.toml")).expect("parses");
        let err = cfg.validate(Path::new("p.toml")).expect_err("bad split").to_string();
        assert!(err.contains("`split`") && err.contains("must be 1"), "{err}");
    }

    #[test]
    fn empty_source_file_is_refused_before_work_starts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("d.jsonl");
        std::fs::write(&data, "").expect("write");
        let text = format!("out_dir = \"o\"\n[[sources]]\nname = \"a\"\npath = {:?}\n", data);
        let cfg = PrepConfig::parse(&text, Path::new("p.toml")).expect("parses");
        let err = cfg.validate(Path::new("p.toml")).expect_err("empty").to_string();
        assert!(err.contains("sources[0].path") && err.contains("is empty"), "{err}");
    }
}

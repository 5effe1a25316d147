//! The server's configuration: one TOML file (`whet serve CONFIG`), validated in full before
//! anything loads. Unknown keys are errors naming the key, its line and the nearest valid key
//! (through `whet-data`'s TOML error reporting, shared with the other configs). Relative paths
//! are relative to the config file.
//!
//! ```toml
//! model = "../assets/base-model"      # an HF model directory
//! listen = "127.0.0.1:8000"
//! api_keys = ["sk-local"]             # none: no authentication
//! feedback_db = "feedback.sqlite"     # responses and user feedback (SQLite)
//! [adapters]                          # model name -> PEFT adapter directory
//! support = "../runs/quickstart/sft/adapter"
//! [routes.support-bot]                # A/B route: variant (served model) -> weight
//! support = 90
//! base-model = 10
//! [guardrails.strict]                 # a guardrail policy (see `guardrail_config`)
//! applies_to = ["support-bot"]
//! pii_output = true
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use candle_core::DType;
use serde::Deserialize;
use whet_data::prep::config::{lexical_join, toml_error};

use crate::error::{Error, Result};
use crate::guardrail_config::{check_guardrails, GuardrailConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The base model: a Hugging Face model directory.
    pub model: PathBuf,
    /// The name clients use for the base model; default: the model directory's name.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Weight dtype: f32, bf16 or f16.
    #[serde(default = "default_dtype")]
    pub dtype: String,
    /// Model name -> LoRA adapter directory (PEFT layout), each served unmerged on the base.
    #[serde(default)]
    pub adapters: BTreeMap<String, PathBuf>,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Bearer keys accepted on `/v1/*`; empty means no authentication.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Keys for administrative routes (also accepted wherever `api_keys` are).
    #[serde(default)]
    pub admin_keys: Vec<String>,
    /// Sequences decoded together: a new request joins the batch between decode steps while
    /// fewer than this many are running.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Requests waiting for a batch slot; beyond it requests get 429 with `Retry-After`.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// Prompt tokens prefilled per engine step, over all new sequences (chunked prefill): a
    /// longer prompt is prefilled over several steps, so the running sequences keep decoding
    /// meanwhile instead of waiting for the whole prompt (vLLM's `max_num_batched_tokens`).
    #[serde(default = "default_prefill_chunk_tokens")]
    pub prefill_chunk_tokens: usize,
    /// Largest request body accepted, in bytes (413 beyond it).
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Longest a request may take, queueing included, in seconds (504 beyond it).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: f64,
    /// A/B routes: route name -> variant (the base model's or an adapter's name) -> integer
    /// weight. A request whose `model` is a route is served by one variant, picked by weight.
    #[serde(default)]
    pub routes: BTreeMap<String, BTreeMap<String, u32>>,
    /// The SQLite file where finished responses and user feedback are stored (created with its
    /// directory if missing); default `feedback.sqlite` beside the config.
    #[serde(default = "default_feedback_db")]
    pub feedback_db: PathBuf,
    /// Days a response (prompt, answer, its feedback) is kept in `feedback_db`; older ones are
    /// deleted at start and every hour. Default: kept until deleted by hand.
    #[serde(default)]
    pub feedback_retention_days: Option<f64>,
    /// Guardrail policies by name, each applied to the routes and models in its `applies_to`
    /// (see `guardrail_config`).
    #[serde(default)]
    pub guardrails: BTreeMap<String, GuardrailConfig>,
    /// Directories `POST /v1/adapters` may load adapters from (each must exist); empty: adapters
    /// cannot be added at run time.
    #[serde(default)]
    pub adapter_dirs: Vec<PathBuf>,
}

fn default_dtype() -> String {
    "f32".into()
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8000))
}
fn default_max_batch() -> usize {
    8
}
fn default_max_queue() -> usize {
    64
}
fn default_prefill_chunk_tokens() -> usize {
    512
}
fn default_max_request_bytes() -> usize {
    1 << 20
}
fn default_request_timeout_secs() -> f64 {
    300.0
}
fn default_feedback_db() -> PathBuf {
    PathBuf::from("feedback.sqlite")
}

impl ServeConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, path.parent().unwrap_or(Path::new(".")))
    }

    /// [`ServeConfig::load`] for a config held in memory: `path` names it in errors and relative
    /// paths are relative to `base`.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self> {
        let mut config: ServeConfig = toml::from_str(text)
            .map_err(|e| Error::ConfigSyntax(Box::new(toml_error(&e, text, path))))?;
        config.validate().map_err(|(key, message)| Error::Config {
            path: path.to_path_buf(),
            key,
            message,
        })?;
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = lexical_join(base, p);
            }
        };
        join(&mut config.model);
        join(&mut config.feedback_db);
        config.adapters.values_mut().for_each(join);
        config.adapter_dirs.iter_mut().for_each(join);
        Ok(config)
    }

    /// The weight dtype (checked by validation).
    pub fn dtype(&self) -> DType {
        whet_models::parse_dtype(&self.dtype).unwrap_or(DType::F32)
    }

    /// The base model's served name.
    pub fn base_model_name(&self) -> String {
        self.model_name.clone().unwrap_or_else(|| {
            self.model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "base".into())
        })
    }

    /// Checks what serde cannot; an error names the key.
    fn validate(&self) -> std::result::Result<(), (String, String)> {
        let bad = |key: &str, message: String| Err((key.to_string(), message));
        if let Err(m) = whet_models::parse_dtype(&self.dtype) {
            return bad("dtype", m);
        }
        if self.feedback_db.as_os_str().is_empty() {
            return bad(
                "feedback_db",
                "must be a file path, e.g. \"feedback.sqlite\"".into(),
            );
        }
        if let Some(days) = self.feedback_retention_days {
            if !(days > 0.0 && days.is_finite()) {
                return bad("feedback_retention_days", format!("must be a number of days > 0, got {days}"));
            }
        }
        if self.max_batch == 0 {
            return bad("max_batch", "must be at least 1".into());
        }
        if self.prefill_chunk_tokens == 0 {
            return bad("prefill_chunk_tokens", "must be at least 1 (a prompt token per step)".into());
        }
        if self.max_request_bytes < 1024 {
            return bad(
                "max_request_bytes",
                format!("must be at least 1024, got {}", self.max_request_bytes),
            );
        }
        if !(self.request_timeout_secs > 0.0 && self.request_timeout_secs.is_finite()) {
            return bad(
                "request_timeout_secs",
                format!("must be > 0, got {}", self.request_timeout_secs),
            );
        }
        let base = self.base_model_name();
        if base.is_empty() {
            return bad("model_name", "must not be empty".into());
        }
        let served: Vec<&str> = std::iter::once(base.as_str())
            .chain(self.adapters.keys().map(String::as_str))
            .collect();
        for (route, weights) in &self.routes {
            let key = format!("routes.{route}");
            if route.is_empty() || route.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return bad(&key, "route names must be non-empty without spaces".into());
            }
            if served.contains(&route.as_str()) {
                return bad(
                    &key,
                    "is also a served model's name; a route needs a name of its own".into(),
                );
            }
            if let Err(message) = check_weights(weights, &served) {
                return bad(&key, message);
            }
        }
        for name in self.adapters.keys() {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return bad(
                    &format!("adapters.{name}"),
                    "adapter names must be non-empty without spaces".into(),
                );
            }
            if *name == base {
                return bad(
                    &format!("adapters.{name}"),
                    "is also the base model's name; set `model_name` or rename the adapter".into(),
                );
            }
        }
        if self.adapter_dirs.iter().any(|d| d.as_os_str().is_empty()) {
            return bad(
                "adapter_dirs",
                "entries must be directory paths, e.g. [\"../runs\"]".into(),
            );
        }
        let names: Vec<&str> = served
            .iter()
            .copied()
            .chain(self.routes.keys().map(String::as_str))
            .collect();
        if let Err((key, message)) = check_guardrails(&self.guardrails, &names) {
            return bad(&key, message);
        }
        for (key, keys) in [
            ("api_keys", &self.api_keys),
            ("admin_keys", &self.admin_keys),
        ] {
            if keys.iter().any(|k| k.trim().is_empty()) {
                return bad(key, "keys must not be empty strings".into());
            }
        }
        Ok(())
    }
}

/// Checks a route's weights against the served model names: every variant served, at least one
/// weight above zero. The message says how to fix it.
pub fn check_weights(
    weights: &BTreeMap<String, u32>,
    served: &[&str],
) -> std::result::Result<(), String> {
    let list = || {
        served
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(unknown) = weights.keys().find(|v| !served.contains(&v.as_str())) {
        return Err(format!(
            "names the variant `{unknown}`, which is not a served model; variants are served model names: {}",
            list()
        ));
    }
    if weights.values().all(|&w| w == 0) {
        return Err(format!(
            "needs at least one variant with a weight above zero, e.g. `{} = 1`",
            served.first().copied().unwrap_or("base")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServeConfig> {
        ServeConfig::parse(text, Path::new("configs/serve.toml"), Path::new("configs"))
    }

    #[test]
    fn defaults_fill_everything_but_the_model_and_paths_follow_the_config() {
        let c =
            parse("model = \"../assets/base-model\"\n[adapters]\nsft = \"../runs/a\"\n").unwrap();
        assert_eq!(c.model, PathBuf::from("assets/base-model"));
        assert_eq!(c.adapters["sft"], PathBuf::from("runs/a"));
        assert_eq!(c.listen, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(c.base_model_name(), "base-model");
        assert!(c.api_keys.is_empty());
        assert_eq!(c.feedback_db, PathBuf::from("configs/feedback.sqlite"));
        assert_eq!((c.max_batch, c.max_queue), (8, 64));
    }

    #[test]
    fn unknown_key_is_named_with_its_line_and_nearest_key() {
        let err = parse("model = \"m\"\nmax_batchh = 4\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2")
                && err.contains("max_batchh")
                && err.contains("did you mean `max_batch`?"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = parse("model = \"m\"\nmax_batch = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`max_batch`"), "{err}");
        let err = parse("model = \"m\"\ndtype = \"f8\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`dtype`") && err.contains("f8"), "{err}");
        let err = parse("model = \"m\"\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        let err = parse("model = \"m\"\n[adapters]\nm = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("adapters.m"), "{err}");
    }

    #[test]
    fn routes_must_name_served_variants_with_some_weight() {
        let ok = parse("model = \"m\"\n[adapters]\nsft = \"a\"\n[routes.bot]\nsft = 90\nm = 10\n")
            .unwrap();
        assert_eq!(ok.routes["bot"]["sft"], 90);
        let err = parse("model = \"m\"\n[routes.bot]\nsfx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`routes.bot`") && err.contains("`sfx`") && err.contains("`m`"),
            "{err}"
        );
        let err = parse("model = \"m\"\n[routes.bot]\nm = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`routes.bot`") && err.contains("above zero"),
            "{err}"
        );
        let err = parse("model = \"m\"\n[routes.m]\nm = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`routes.m`"), "{err}");
        let err = parse("model = \"m\"\n[routes.bot]\nm = -1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("-1"), "{err}");
    }

    #[test]
    fn guardrail_policies_name_known_routes_kinds_and_patterns() {
        let base = "model = \"m\"\n[routes.bot]\nm = 1\n";
        let ok = parse(&format!(
            "{base}[guardrails.strict]\napplies_to = [\"bot\", \"*\"]\npii_output = true\n"
        ))
        .unwrap();
        assert!(ok.guardrails["strict"].pii_output);
        for (table, expect) in [
            ("applies_to = [\"nobot\"]", "guardrails.s.applies_to"),
            ("applies_to = []", "guardrails.s.applies_to"),
            (
                "applies_to = [\"*\"]\npii_input = true\npii_kinds = [\"mail\"]",
                "guardrails.s.pii_kinds",
            ),
            (
                "applies_to = [\"*\"]\nblocked_patterns = [\"(\"]",
                "guardrails.s.blocked_patterns",
            ),
            (
                "applies_to = [\"*\"]\nmax_output_tokens = 0",
                "guardrails.s.max_output_tokens",
            ),
            (
                "applies_to = [\"*\"]\nblocked_action = \"drop\"",
                "blocked_action",
            ),
        ] {
            let err = parse(&format!("{base}[guardrails.s]\n{table}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{table}: {err}");
        }
        let err = parse(&format!(
            "{base}[guardrails.a]\napplies_to = [\"bot\"]\n[guardrails.b]\napplies_to = [\"bot\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("guardrails.b.applies_to") && err.contains("guardrails.a"),
            "{err}"
        );
    }
}

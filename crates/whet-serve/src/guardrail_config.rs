//! The `[guardrails.NAME]` tables of the server config: named guardrail policies, each applied
//! to the routes and served models it lists in `applies_to` (`"*"`: every name no other policy
//! lists, the default). One table per policy rather than a default plus per-route overrides, so
//! that what applies to a route is read in one place, without merging rules.
//!
//! ```toml
//! [guardrails.support]
//! applies_to = ["support-bot", "*"]   # route or served-model names; "*" = the default
//! pii_input = true                    # redact PII in prompts before the model sees them
//! pii_output = true                   # redact PII in answers, streamed or not
//! pii_kinds = ["email", "phone"]      # default: every kind the data-prep detector knows
//! blocked_words = ["darkweb"]         # whole words, any case
//! blocked_patterns = ['(?i)\bkill\s+switch\b']   # regular expressions (Rust `regex` syntax)
//! blocked_action = "refuse"           # or "redact" (replaced with <BLOCKED>)
//! injection = "refuse"                # or "flag" (counted and logged only), "off"
//! max_prompt_chars = 8000             # prompt text, all messages together
//! max_prompt_tokens = 1024
//! max_output_tokens = 256
//! stream_window_chars = 64            # streamed answers: characters held back for checking
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use whet_data::prep::pii::PiiKind;

/// One guardrail policy as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailConfig {
    /// Route and served-model names this policy applies to; `"*"` makes it the default for
    /// every name no other policy lists.
    pub applies_to: Vec<String>,
    /// Redact PII in the prompt (chat message contents, completion prompt text).
    #[serde(default)]
    pub pii_input: bool,
    /// Redact PII in the generated text.
    #[serde(default)]
    pub pii_output: bool,
    /// The PII kinds to redact (keys of `whet_data::prep::pii::PiiKind`); empty: all.
    #[serde(default)]
    pub pii_kinds: Vec<String>,
    /// Words (matched whole, case-insensitive) refused or redacted in prompts and answers.
    #[serde(default)]
    pub blocked_words: Vec<String>,
    /// Regular expressions refused or redacted in prompts and answers.
    #[serde(default)]
    pub blocked_patterns: Vec<String>,
    #[serde(default)]
    pub blocked_action: BlockedAction,
    #[serde(default)]
    pub injection: InjectionAction,
    #[serde(default)]
    pub max_prompt_chars: Option<usize>,
    #[serde(default)]
    pub max_prompt_tokens: Option<usize>,
    #[serde(default)]
    pub max_output_tokens: Option<usize>,
    /// Characters of a streamed answer held back until more text follows, so a match split over
    /// deltas is caught before any of it is sent: at least the longest text a blocked pattern
    /// or a PII kind must see before it matches.
    #[serde(default = "default_stream_window_chars")]
    pub stream_window_chars: usize,
}

fn default_stream_window_chars() -> usize {
    64
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockedAction {
    /// Input: a 400 `content_filter` error; output: the answer ends before the blocked text
    /// with `finish_reason: "content_filter"`.
    #[default]
    Refuse,
    /// Replaced with `<BLOCKED>`.
    Redact,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InjectionAction {
    #[default]
    Off,
    /// Counted and logged; the request goes on.
    Flag,
    /// A 400 `content_filter` error.
    Refuse,
}

/// Checks the policies against the served names and route names; an error is `(key,
/// message)`.
pub fn check_guardrails(
    policies: &BTreeMap<String, GuardrailConfig>,
    names: &[&str],
) -> Result<(), (String, String)> {
    let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
    for (policy, g) in policies {
        let key = |field: &str| format!("guardrails.{policy}.{field}");
        if g.applies_to.is_empty() {
            return Err((
                key("applies_to"),
                "lists no route or model; add names, or \"*\" for the default".into(),
            ));
        }
        for name in &g.applies_to {
            if name != "*" && !names.contains(&name.as_str()) {
                return Err((
                    key("applies_to"),
                    format!(
                        "names `{name}`, which is neither a served model nor a route; known names: {}",
                        names.join(", ")
                    ),
                ));
            }
            if let Some(other) = claimed.insert(name, policy) {
                return Err((
                    key("applies_to"),
                    format!("`{name}` is already covered by `guardrails.{other}`; a name may be in one policy only"),
                ));
            }
        }
        for kind in &g.pii_kinds {
            if PiiKind::from_key(kind).is_none() {
                let known: Vec<&str> = PiiKind::ALL.iter().map(|k| k.key()).collect();
                return Err((
                    key("pii_kinds"),
                    format!("unknown PII kind `{kind}`; known: {}", known.join(", ")),
                ));
            }
        }
        if !g.pii_kinds.is_empty() && !g.pii_input && !g.pii_output {
            return Err((
                key("pii_kinds"),
                "is set but neither `pii_input` nor `pii_output` is true".into(),
            ));
        }
        if let Some(w) = g.blocked_words.iter().find(|w| w.trim().is_empty()) {
            return Err((key("blocked_words"), format!("has an empty word {w:?}")));
        }
        for p in &g.blocked_patterns {
            if let Err(e) = regex::Regex::new(p) {
                return Err((
                    key("blocked_patterns"),
                    format!("{p:?} is not a valid regular expression: {e}"),
                ));
            }
        }
        if g.stream_window_chars == 0 {
            return Err((key("stream_window_chars"), "must be at least 1 (default 64 characters)".into()));
        }
        for (field, value) in [
            ("max_prompt_chars", g.max_prompt_chars),
            ("max_prompt_tokens", g.max_prompt_tokens),
            ("max_output_tokens", g.max_output_tokens),
        ] {
            if value == Some(0) {
                return Err((
                    key(field),
                    "must be at least 1 (leave it out for no limit)".into(),
                ));
            }
        }
    }
    Ok(())
}

//! Chat templates rendered as transformers' `apply_chat_template` renders them: Jinja with
//! `trim_blocks` and `lstrip_blocks`, loop controls (`{% break %}`, `{% continue %}`), Python
//! string and dict methods (`.strip()`, `.items()`), and transformers' globals
//! `raise_exception`, `strftime_now` and its `tojson` (Python's `json.dumps`). The context holds
//! `messages`, `add_generation_prompt`, the special tokens (`bos_token`, `eos_token`, ...),
//! `tools` and `documents` (none unless given) and any extra keyword arguments.
//!
//! transformers' `{% generation %}` marker (for its assistant masks) is accepted and ignored:
//! whet finds assistant tokens by rendering prefixes (see `loss_mask.rs`).

use std::collections::BTreeMap;

use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{Environment, ErrorKind};

use crate::error::{Error, Result};
use crate::pyjson;

const TEMPLATE_NAME: &str = "chat_template";

/// Built-in templates for models that ship none, chosen by name.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    ("chatml", include_str!("templates/chatml.jinja")),
    ("llama3", include_str!("templates/llama3.jinja")),
];

/// A compiled chat template.
pub struct ChatTemplate {
    /// Where it came from, for error messages: a file path or `built-in NAME`.
    origin: String,
    source: String,
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").field("origin", &self.origin).finish()
    }
}

/// What a rendering needs besides the messages.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub add_generation_prompt: bool,
    /// `bos_token`, `eos_token`, ... as the tokenizer config names them.
    pub special_tokens: BTreeMap<String, String>,
    /// Extra template variables (`tools`, `documents`, `date_string`, `enable_thinking`, ...).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ChatTemplate {
    /// Compiles `source`; `origin` names it in errors.
    pub fn new(source: &str, origin: impl Into<String>) -> Result<Self> {
        let origin = origin.into();
        let source = strip_generation_tags(source);
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|e| template_error(&origin, &e))?,
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        minijinja_contrib::add_to_environment(&mut env);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(|e| template_error(&origin, &e))?;
        Ok(Self { origin, source, env })
    }

    /// A built-in template by name (`chatml`, `llama3`).
    pub fn builtin(name: &str) -> Result<Self> {
        let (_, source) = BUILTIN_TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::UnknownBuiltinTemplate {
                name: name.to_string(),
                builtins: builtin_names(),
            })?;
        Self::new(source, format!("built-in {name}"))
    }

    /// A user's choice: the path of a Jinja file if one exists there, else a built-in name.
    pub fn from_choice(choice: &str) -> Result<Self> {
        let path = std::path::Path::new(choice);
        if path.is_file() {
            let source = std::fs::read_to_string(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
            return Self::new(&source, path.display().to_string());
        }
        Self::builtin(choice)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages` (OpenAI-style message objects) to the prompt text.
    pub fn render(&self, messages: &[serde_json::Value], opts: &RenderOptions) -> Result<String> {
        let mut ctx = serde_json::Map::new();
        ctx.insert("tools".into(), serde_json::Value::Null);
        ctx.insert("documents".into(), serde_json::Value::Null);
        for (k, v) in &opts.special_tokens {
            ctx.insert(k.clone(), v.clone().into());
        }
        for (k, v) in &opts.extra {
            ctx.insert(k.clone(), v.clone());
        }
        ctx.insert("messages".into(), messages.iter().map(drop_null_keys).collect());
        ctx.insert("add_generation_prompt".into(), opts.add_generation_prompt.into());
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| template_error(&self.origin, &e))?;
        template
            .render(Value::from(Serde(&ctx)))
            .map_err(|e| template_error(&self.origin, &e))
    }
}

pub fn builtin_names() -> String {
    BUILTIN_TEMPLATES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// transformers drops message keys whose value is None before rendering, so templates can test
/// `is defined`.
fn drop_null_keys(message: &serde_json::Value) -> serde_json::Value {
    match message {
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        other => other.clone(),
    }
}

fn template_error(origin: &str, e: &minijinja::Error) -> Error {
    // `raise_exception` is an invalid operation carrying the template author's message: show
    // that message and where it was raised. Other errors print their own location.
    let message = match (e.kind(), e.detail(), e.line()) {
        (ErrorKind::InvalidOperation, Some(detail), Some(line)) => format!("{detail} (template line {line})"),
        (ErrorKind::InvalidOperation, Some(detail), None) => detail.to_string(),
        _ => e.to_string(),
    };
    Error::Template {
        origin: origin.to_string(),
        message,
    }
}

/// Replaces `{% generation %}` / `{% endgeneration %}` (a transformers extension) by an
/// always-true block, keeping the tags' whitespace control.
fn strip_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag.find("%}") else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (lead, body) = match inner.strip_prefix(['-', '+']) {
            Some(b) => (&inner[..1], b),
            None => ("", inner),
        };
        let (body, trail) = match body.strip_suffix(['-', '+']) {
            Some(b) => (b, &body[body.len() - 1..]),
            None => (body, ""),
        };
        match body.trim() {
            "generation" => out.push_str(&format!("{{%{lead} if true {trail}%}}")),
            "endgeneration" => out.push_str(&format!("{{%{lead} endif {trail}%}}")),
            _ => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)`: the local time now, formatted with Python's `strftime` codes.
fn strftime_now(format: String) -> String {
    chrono::Local::now().format(&format).to_string()
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent)`.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    // Marked safe so autoescaping (off for chat templates anyway) never touches it.
    Ok(Value::from_safe_string(pyjson::dumps(&value, indent)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_tags_become_transparent_blocks() {
        assert_eq!(
            strip_generation_tags("a{%- generation %}b{% endgeneration -%}c{{ x }}"),
            "a{%- if true %}b{% endif -%}c{{ x }}"
        );
    }

    #[test]
    fn builtin_templates_compile_and_render() {
        let msgs = [serde_json::json!({"role": "user", "content": "Hi"})];
        for (name, _) in BUILTIN_TEMPLATES {
            let t = ChatTemplate::builtin(name).unwrap();
            let opts = RenderOptions { add_generation_prompt: true, ..Default::default() };
            assert!(t.render(&msgs, &opts).unwrap().contains("Hi"), "{name}");
        }
    }

    #[test]
    fn unknown_builtin_lists_the_known_ones() {
        let err = ChatTemplate::builtin("vicuna").unwrap_err().to_string();
        assert!(err.contains("chatml") && err.contains("vicuna"), "{err}");
    }

    #[test]
    fn strftime_now_formats_the_current_date() {
        let t = ChatTemplate::new("{{ strftime_now('%Y') }}", "test").unwrap();
        let year = t.render(&[], &RenderOptions::default()).unwrap();
        assert_eq!(year, chrono::Local::now().format("%Y").to_string());
    }
}

//! A minimal blocking client for OpenAI-compatible chat completions (`POST {base}/chat/completions`),
//! enough for AI feedback and LLM judges: answers from a hosted or served model (`whet serve`,
//! vLLM, TGI, the OpenAI API) and a judge's verdict (`whet data prefs`, `whet eval`'s glossary). `ureq` is already in the tree through `hf-hub`; no async
//! runtime is needed for one request at a time.
//!
//! The API key comes from `WHET_API_KEY`, else `OPENAI_API_KEY`; none is sent when neither is set
//! (a local server without keys).

use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// One endpoint and model name.
#[derive(Debug, Clone)]
pub struct ChatEndpoint {
    /// The API base, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    pub model: String,
    api_key: Option<String>,
}

/// Sampling for one request.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest {
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_p: Option<f32>,
    pub seed: u64,
}

impl ChatEndpoint {
    pub fn new(base_url: &str, model: &str) -> Self {
        let api_key = std::env::var("WHET_API_KEY").or_else(|_| std::env::var("OPENAI_API_KEY")).ok().filter(|k| !k.is_empty());
        Self { base_url: base_url.trim_end_matches('/').to_string(), model: model.to_string(), api_key }
    }

    /// Whether a flag value names an endpoint rather than a model directory.
    pub fn is_url(spec: &str) -> bool {
        spec.starts_with("http://") || spec.starts_with("https://")
    }

    /// The assistant's reply to `messages`, trimmed. (One request per answer: not every
    /// server supports `n`.)
    pub fn complete(&self, messages: &[Value], req: &ChatRequest) -> Result<String> {
        let url = format!("{}/chat/completions", self.base_url);
        let mut body = json!({
            "model": self.model, "messages": messages, "max_tokens": req.max_tokens,
            "temperature": req.temperature, "seed": req.seed,
        });
        if let Some(p) = req.top_p {
            body["top_p"] = json!(p);
        }
        let mut call = ureq::post(&url).timeout(Duration::from_secs(300));
        if let Some(key) = &self.api_key {
            call = call.set("Authorization", &format!("Bearer {key}"));
        }
        let reply: Value = match call.send_json(body) {
            Ok(r) => r.into_json().map_err(|e| Error::Endpoint { url: url.clone(), message: format!("the reply is not JSON ({e})") })?,
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["error"]["message"].as_str().map(str::to_string)).unwrap_or(text);
                return Err(Error::Endpoint { url: format!("{url} (model `{}`)", self.model), message: format!("HTTP {code}: {message}") });
            }
            Err(ureq::Error::Transport(t)) => {
                // The transport error's own text repeats the URL; keep its kind and detail.
                let cause = std::error::Error::source(&t).map(|c| format!(": {c}")).unwrap_or_default();
                let detail = t.message().map(|m| format!(": {m}")).unwrap_or_default() + &cause;
                let message = format!("{}{detail} (is the server running? Give the API base, e.g. http://127.0.0.1:8000/v1)", t.kind());
                return Err(Error::Endpoint { url, message });
            }
        };
        let text = reply["choices"][0]["message"]["content"].as_str();
        let text = text.ok_or_else(|| Error::Endpoint { url: url.clone(), message: format!("the reply has no `choices[0].message.content`: {reply}") })?;
        Ok(text.trim().to_string())
    }
}

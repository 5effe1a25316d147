//! The request bodies of OpenAI's `POST /v1/chat/completions` and `POST /v1/completions`, as
//! serde types, and their parsing into [`ApiError`]s that name the parameter at fault.
//!
//! One type serves both endpoints (they share every sampling field); which of `messages` and
//! `prompt` is required, and what `logprobs` means, is checked per endpoint. Fields whet does not
//! implement (`tools`, `response_format`, penalties, ...) are ignored, as OpenAI-compatible
//! servers do, so existing clients work unchanged. Extensions in vLLM's spelling: `top_k`,
//! `min_p`, `repetition_penalty`, `ignore_eos`.

use serde::Deserialize;
use serde_json::Value;

use crate::api_error::ApiError;

#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// The base model's or an adapter's name.
    pub model: String,
    /// Chat: the conversation.
    #[serde(default)]
    pub messages: Option<Vec<ChatMessage>>,
    /// Completions: the prompt text(s) or token ids.
    #[serde(default)]
    pub prompt: Option<Prompt>,
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// The chat API's newer name for `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<usize>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub min_p: Option<f32>,
    #[serde(default)]
    pub repetition_penalty: Option<f32>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub n: Option<usize>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Chat: `true`/`false`; completions: how many alternatives to report per token.
    #[serde(default)]
    pub logprobs: Option<Logprobs>,
    /// Chat: alternatives per token (with `logprobs: true`).
    #[serde(default)]
    pub top_logprobs: Option<usize>,
    #[serde(default)]
    pub user: Option<String>,
    /// Keep generating past end-of-sequence tokens, up to `max_tokens`.
    #[serde(default)]
    pub ignore_eos: Option<bool>,
    /// Completions: prepend the prompt to the text (not supported; refused when true).
    #[serde(default)]
    pub echo: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    /// Content parts; only `{"type": "text", "text": ...}` parts are supported.
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Prompt {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn strings(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Logprobs {
    Flag(bool),
    Count(usize),
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

impl ChatMessage {
    /// The message as the chat template sees it: `{role, content[, name]}` with text parts joined.
    pub fn to_template_value(&self, i: usize) -> Result<Value, ApiError> {
        let content = match &self.content {
            None => String::new(),
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Parts(parts)) => {
                let mut text = String::new();
                for (j, part) in parts.iter().enumerate() {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(t)) => text.push_str(t),
                        (kind, _) => {
                            return Err(ApiError::invalid(
                                &format!("messages[{i}].content[{j}]"),
                                format!("content parts of type `{kind}` are not supported; only `text` parts are"),
                            ))
                        }
                    }
                }
                text
            }
        };
        let mut m = serde_json::Map::new();
        m.insert("role".into(), Value::String(self.role.clone()));
        m.insert("content".into(), Value::String(content));
        if let Some(name) = &self.name {
            m.insert("name".into(), Value::String(name.clone()));
        }
        Ok(Value::Object(m))
    }
}

/// Parses a request body; a syntax error is `invalid_json`, a wrong type or missing field is
/// `invalid_type` naming the parameter (`messages[0].content`).
pub fn parse_request(body: &[u8]) -> Result<CompletionRequest, ApiError> {
    parse_json(body, "request")
}

/// Parses a JSON body into `T` with [`parse_request`]'s errors; `what` names the body in them.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
    match parsed {
        Ok(r) => Ok(r),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::invalid_json(format!(
                    "The request body is not valid JSON: {inner}"
                )));
            }
            let param = (path != ".").then_some(path);
            let message = match &param {
                Some(p) => format!("Invalid value for `{p}`: {inner}"),
                None => format!("Invalid {what}: {inner}"),
            };
            Err(ApiError::invalid_type(param, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_name_the_parameter() {
        let e = parse_request(br#"{"model": "m", "max_tokens": "ten"}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        let e = parse_request(br#"{"model": "m", "messages": [{"content": "hi"}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0]"), "{}", e.message);
        assert!(e.message.contains("role"), "{}", e.message);
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        let e = parse_request(br#"{"model": "m", "#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
        let e = parse_request(b"model=m&prompt=hi").unwrap_err();
        assert_eq!(e.code, "invalid_json");
    }

    #[test]
    fn both_stop_and_prompt_spellings_parse() {
        let r =
            parse_request(br#"{"model": "m", "prompt": ["a", "b"], "stop": "x", "logprobs": 2}"#)
                .unwrap();
        assert!(matches!(r.prompt, Some(Prompt::Texts(ref v)) if v.len() == 2));
        assert_eq!(r.stop.unwrap().strings(), vec!["x".to_string()]);
        assert!(matches!(r.logprobs, Some(Logprobs::Count(2))));
        let r = parse_request(br#"{"model": "m", "prompt": [1, 2], "stop": ["x", "y"], "logprobs": true, "tools": []}"#).unwrap();
        assert!(matches!(r.prompt, Some(Prompt::Tokens(_))));
        assert!(matches!(r.logprobs, Some(Logprobs::Flag(true))));
    }
}

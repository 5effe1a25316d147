//! One choice of a completion as the HTTP side follows it: the engine's token events are
//! decoded into text, stop strings are found (and the engine job cancelled at the first one),
//! and the text safe to send is released chunk by chunk for streaming or whole at the end,
//! through the route's output guardrail (`output_guard`) when it has one.
//! Also the two `logprobs` shapes of OpenAI's API: the chat one (`{"content": [{token,
//! logprob, bytes, top_logprobs}]}`) and the legacy completions one (`{tokens,
//! token_logprobs, top_logprobs, text_offset}`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use whet_data::{ModelTokenizer, TextStream};

use crate::api_error::ApiError;
use crate::engine::{EventKind, TokenLogprobs};
use crate::guardrails::{Guardrail, Intervention};
use crate::output_guard::OutputGuard;

pub struct Choice {
    tokens: Vec<u32>,
    stream: TextStream,
    /// The final text once finished (cut at a stop string).
    pub text: String,
    pub finish: Option<&'static str>,
    /// Tokens generated for this choice, end-of-sequence included.
    pub completion_tokens: usize,
    /// Per reported token: id, log-probabilities and its byte offset in the text.
    logprobs: Vec<(u32, TokenLogprobs, usize)>,
    /// How many `logprobs` entries were already sent in stream chunks.
    logprobs_sent: usize,
    /// Length of the decoded text before the latest token.
    decoded_len: usize,
    cancel: Arc<AtomicBool>,
    /// The output guardrail, when the request's policy checks output.
    guard: Option<OutputGuard>,
}

/// What an event changed.
pub enum Update {
    /// Text newly safe to show (may be empty: held back or not yet a whole character).
    Text(String),
    /// The choice ended; the last text to show.
    Finished(String),
    /// The choice had already ended.
    Ignored,
}

impl Choice {
    pub fn new(stops: &[String], cancel: Arc<AtomicBool>, policy: Option<&Arc<Guardrail>>) -> Self {
        Self {
            tokens: Vec::new(),
            stream: TextStream::new(stops),
            text: String::new(),
            finish: None,
            completion_tokens: 0,
            logprobs: Vec::new(),
            logprobs_sent: 0,
            decoded_len: 0,
            cancel,
            guard: policy
                .filter(|p| p.checks_output())
                .map(|p| OutputGuard::new(p.clone())),
        }
    }

    /// The output guardrail's interventions.
    pub fn verdicts(&self) -> &[Intervention] {
        self.guard.as_ref().map_or(&[], |g| &g.verdicts)
    }

    /// Text released mid-answer, through the guard; a refusal there ends the choice.
    fn released(&mut self, fresh: String) -> Update {
        let Some(guard) = &mut self.guard else {
            return Update::Text(fresh);
        };
        let out = guard.push(&fresh);
        if !guard.refused {
            return Update::Text(out);
        }
        self.cancel.store(true, Ordering::Relaxed);
        self.text = guard.released.clone();
        self.completion_tokens = self.tokens.len();
        self.finish = Some("content_filter");
        Update::Finished(out)
    }

    /// The last text of a finished choice, through the guard (which may change `text` and
    /// `finish`).
    fn last(&mut self, fresh: String) -> Update {
        let Some(guard) = &mut self.guard else {
            return Update::Finished(fresh);
        };
        let mut out = guard.push(&fresh);
        out.push_str(&guard.finish());
        self.text = guard.released.clone();
        if guard.refused {
            self.finish = Some("content_filter");
        }
        Update::Finished(out)
    }

    pub fn apply(&mut self, kind: EventKind, tok: &ModelTokenizer) -> Result<Update, ApiError> {
        if self.finish.is_some() {
            return Ok(Update::Ignored);
        }
        let decode = |tokens: &[u32]| {
            tok.decode(tokens, true)
                .map_err(|e| ApiError::internal(format!("decoding the generated tokens: {e}")))
        };
        match kind {
            EventKind::Token { id, logprobs } => {
                self.tokens.push(id);
                let text = decode(&self.tokens)?;
                if let Some(lp) = logprobs {
                    self.logprobs.push((id, lp, self.decoded_len));
                }
                self.decoded_len = text.len();
                let (fresh, stopped) = self.stream.push(&text);
                if !stopped {
                    return Ok(self.released(fresh));
                }
                // Every token so far was generated; the engine stops at the next step.
                self.cancel.store(true, Ordering::Relaxed);
                self.text = self.stream.finish(&text);
                self.completion_tokens = self.tokens.len();
                self.finish = Some("stop");
                Ok(self.last(fresh))
            }
            EventKind::Done {
                finish,
                completion_tokens,
            } => {
                let text = decode(&self.tokens)?;
                self.text = self.stream.finish(&text);
                self.completion_tokens = completion_tokens;
                self.finish = Some(finish.as_str());
                let fresh = self.stream.unprinted(&self.text).to_string();
                Ok(self.last(fresh))
            }
            EventKind::Failed { message } => Err(ApiError::internal(message)),
        }
    }

    /// Chat-format log-probabilities of every reported token, or of those not yet streamed.
    pub fn chat_logprobs(&mut self, tok: &ModelTokenizer, only_new: bool) -> Value {
        let from = if only_new { self.logprobs_sent } else { 0 };
        self.logprobs_sent = self.logprobs.len();
        let entry = |id: u32, logprob: f32| {
            let token = token_text(tok, id);
            json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()})
        };
        let content: Vec<Value> = self.logprobs[from..]
            .iter()
            .map(|(id, lp, _)| {
                let mut e = entry(*id, lp.logprob);
                e["top_logprobs"] = lp.top.iter().map(|(t, l)| entry(*t, *l)).collect();
                e
            })
            .collect();
        json!({ "content": content })
    }

    /// Completions-format log-probabilities (`text_offset` counts bytes of the text).
    pub fn completion_logprobs(&mut self, tok: &ModelTokenizer, only_new: bool) -> Value {
        let from = if only_new { self.logprobs_sent } else { 0 };
        self.logprobs_sent = self.logprobs.len();
        let new = &self.logprobs[from..];
        let top: Vec<Value> = new
            .iter()
            .map(|(_, lp, _)| {
                let mut m = serde_json::Map::new();
                for (t, l) in &lp.top {
                    m.insert(token_text(tok, *t), json!(l));
                }
                Value::Object(m)
            })
            .collect();
        json!({
            "tokens": new.iter().map(|(id, _, _)| token_text(tok, *id)).collect::<Vec<_>>(),
            "token_logprobs": new.iter().map(|(_, lp, _)| lp.logprob).collect::<Vec<_>>(),
            "top_logprobs": top,
            "text_offset": new.iter().map(|(_, _, off)| off).collect::<Vec<_>>(),
        })
    }
}

/// A token's text on its own (special tokens spelled out).
fn token_text(tok: &ModelTokenizer, id: u32) -> String {
    tok.decode(&[id], false).unwrap_or_default()
}

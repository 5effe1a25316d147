//! The streamed answer of `POST /v1/chat/completions` and `POST /v1/completions`
//! (`stream: true`): server-sent events, `data: {chunk}` per piece of text (chat: a first chunk
//! with the assistant role per choice), an optional usage chunk, then `data: [DONE]`. An error
//! after the headers went out (a timeout, a failed generation) is sent as one `data:` event in
//! OpenAI's error format before `[DONE]`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::api_error::ApiError;
use crate::choice::{Choice, Update};
use crate::completions::{
    next_event, ok_outcome, store, trace_output_verdicts, usage, Endpoint, Plan,
};
use crate::engine::{Event, EventKind};
use crate::request_trace::{RequestTrace, CLIENT_CLOSED};
use crate::server::AppState;

/// Answers with server-sent events fed by a task that follows the engine's events. When the
/// client goes away the response stream is dropped, the task's sends fail, it returns and drops
/// the event receiver, and the engine cancels the jobs.
pub(crate) fn stream(
    state: Arc<AppState>,
    plan: Plan,
    events: UnboundedReceiver<Event>,
    choices: Vec<Choice>,
    deadline: Instant,
    timeout: f64,
    trace: RequestTrace,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<SseEvent>(64);
    tokio::spawn(async move {
        let mut writer = ChunkWriter {
            state,
            plan,
            tx,
            trace,
        };
        writer.run(events, choices, deadline, timeout).await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    Sse::new(body).into_response()
}

struct ChunkWriter {
    state: Arc<AppState>,
    plan: Plan,
    trace: RequestTrace,
    tx: tokio::sync::mpsc::Sender<SseEvent>,
}

/// The client is gone.
struct Closed;

impl ChunkWriter {
    async fn run(
        &mut self,
        mut events: UnboundedReceiver<Event>,
        mut choices: Vec<Choice>,
        deadline: Instant,
        timeout: f64,
    ) {
        if let Err(e) = self
            .follow(&mut events, &mut choices, deadline, timeout)
            .await
        {
            match e {
                Some(error) => {
                    self.trace.fail(error.status.as_u16(), error.code);
                    let _ = self.send(error.body()).await;
                }
                None => self.trace.fail(CLIENT_CLOSED, "client_closed"),
            }
            let _ = self.tx.send(SseEvent::default().data("[DONE]")).await;
            return;
        }
        store(&self.state, &self.plan, &choices);
        trace_output_verdicts(&mut self.trace, &choices);
        self.trace.finish(ok_outcome(&choices));
        if self.plan.include_usage {
            let mut chunk = self.chunk(Vec::new());
            chunk["usage"] = usage(&self.plan, &choices);
            if self.send(chunk).await.is_err() {
                return;
            }
        }
        let _ = self.tx.send(SseEvent::default().data("[DONE]")).await;
    }

    /// Streams every choice to its end. `Err(Some(e))`: an error to report; `Err(None)`: the
    /// client is gone.
    async fn follow(
        &mut self,
        events: &mut UnboundedReceiver<Event>,
        choices: &mut [Choice],
        deadline: Instant,
        timeout: f64,
    ) -> Result<(), Option<ApiError>> {
        let gone = |_: Closed| None;
        if self.plan.endpoint == Endpoint::Chat {
            for i in 0..choices.len() {
                let delta = json!({"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null});
                self.send(self.chunk(vec![delta])).await.map_err(gone)?;
            }
        }
        let mut open = choices.len();
        while open > 0 {
            let event = next_event(events, deadline, timeout).await.map_err(Some)?;
            let index = event.index;
            if let EventKind::Token { .. } = event.kind {
                self.trace.token(index);
            }
            let Some(choice) = choices.get_mut(index) else {
                continue;
            };
            let (text, finish) = match choice
                .apply(event.kind, &self.plan.tokenizer)
                .map_err(Some)?
            {
                Update::Ignored => continue,
                Update::Text(text) => (text, None),
                Update::Finished(text) => {
                    open -= 1;
                    (text, choice.finish)
                }
            };
            if !text.is_empty() || finish.is_some() {
                let choice_json = self.choice_chunk(index, choice, text, finish);
                self.send(self.chunk(vec![choice_json]))
                    .await
                    .map_err(gone)?;
            }
        }
        Ok(())
    }

    fn choice_chunk(
        &self,
        index: usize,
        choice: &mut Choice,
        text: String,
        finish: Option<&str>,
    ) -> Value {
        let want = self.plan.top_logprobs.is_some();
        let tok = &self.plan.tokenizer;
        match self.plan.endpoint {
            Endpoint::Chat => {
                let logprobs = if want {
                    choice.chat_logprobs(tok, true)
                } else {
                    Value::Null
                };
                let delta = if text.is_empty() {
                    json!({})
                } else {
                    json!({"content": text})
                };
                json!({"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish})
            }
            Endpoint::Completion => {
                let logprobs = if want {
                    choice.completion_logprobs(tok, true)
                } else {
                    Value::Null
                };
                json!({"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish})
            }
        }
    }

    fn chunk(&self, choices: Vec<Value>) -> Value {
        let object = match self.plan.endpoint {
            Endpoint::Chat => "chat.completion.chunk",
            Endpoint::Completion => "text_completion",
        };
        json!({"id": self.plan.id, "object": object, "created": self.plan.created, "model": self.plan.model, "choices": choices})
    }

    async fn send(&self, json: Value) -> Result<(), Closed> {
        self.tx
            .send(SseEvent::default().data(json.to_string()))
            .await
            .map_err(|_| Closed)
    }
}

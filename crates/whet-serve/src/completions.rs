//! `POST /v1/chat/completions` and `POST /v1/completions`, as OpenAI defines them, streamed over
//! server-sent events (`data: {chunk}` lines, then `data: [DONE]`) or answered whole.
//!
//! A request is checked in full before it reaches the engine ([`plan`]): the model name, the
//! prompt (chat messages rendered with the served model's chat template and its generation
//! prompt, as `whet generate --messages` renders them; completion prompts tokenised with special
//! tokens, as `whet generate --prompt` does), prompt plus `max_tokens` within the model's
//! context, and the sampling values. Sampling defaults are the base model's
//! `generation_config.json` (greedy unless it sets `do_sample`), which a request's
//! `temperature`, `top_p`, ... override, so a request without them generates what `whet
//! generate` does. Each of `n` choices (per prompt) is one engine job with seed `seed + index`.
//!
//! Not supported yet: `echo`, tools and function calling, `response_format`, penalties other than
//! `repetition_penalty`, `logit_bias`, `best_of`.

use std::convert::Infallible;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::Instant;
use whet_data::ModelTokenizer;
use whet_models::{GenerationParams, SamplingChoices};

use crate::api_error::ApiError;
use crate::api_types::{parse_request, CompletionRequest, Logprobs, Prompt};
use crate::choice::{Choice, Update};
use crate::engine::{Event, Job, SubmitError};
use crate::server::AppState;

/// The response header naming the model or adapter that served a request.
pub const MODEL_HEADER: &str = "x-whet-model";
/// The response header repeating the response's `id`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Most stop strings a request may give.
const MAX_STOPS: usize = 16;
/// Most alternatives per token for `logprobs`, OpenAI's limit.
const MAX_TOP_LOGPROBS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completion,
}

/// Everything decided about a request before the engine sees it.
struct Plan {
    endpoint: Endpoint,
    id: String,
    created: u64,
    model: String,
    adapter: Option<usize>,
    tokenizer: Arc<ModelTokenizer>,
    prompts: Vec<Vec<u32>>,
    n: usize,
    params: GenerationParams,
    stops: Vec<String>,
    top_logprobs: Option<usize>,
    stream: bool,
    include_usage: bool,
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(&state, Endpoint::Chat, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(&state, Endpoint::Completion, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn answer(
    state: &AppState,
    endpoint: Endpoint,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.limits.max_request_bytes)
        } else {
            ApiError::invalid_json(format!("Could not read the request body: {e}"))
        }
    })?;
    let request = parse_request(&body)?;
    let plan = plan(state, endpoint, &request)?;
    let deadline = Instant::now() + state.limits.request_timeout;
    let (events, choices) = submit(state, &plan)?;
    let (id, model) = (plan.id.clone(), plan.model.clone());
    let mut response = if plan.stream {
        stream(
            plan,
            events,
            choices,
            deadline,
            state.limits.request_timeout.as_secs_f64(),
        )
    } else {
        let timeout = state.limits.request_timeout.as_secs_f64();
        collect(plan, events, choices, deadline, timeout).await?
    };
    let headers = response.headers_mut();
    for (name, value) in [(MODEL_HEADER, model), (REQUEST_ID_HEADER, id)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    Ok(response)
}

/// Checks `r` against the served model and the server's limits and turns it into engine work.
fn plan(state: &AppState, endpoint: Endpoint, r: &CompletionRequest) -> Result<Plan, ApiError> {
    let served = state
        .models
        .get(&r.model)
        .ok_or_else(|| ApiError::model_not_found(&r.model, &state.models.names()))?;
    let tok = &served.tokenizer;
    let internal = |e: whet_data::Error| ApiError::internal(e.to_string());
    let (prompt_param, prompts) = match endpoint {
        Endpoint::Chat => {
            if r.prompt.is_some() {
                return Err(ApiError::invalid(
                    "prompt",
                    "/v1/chat/completions takes `messages`; `prompt` belongs to /v1/completions",
                ));
            }
            let messages = r.messages.as_ref().ok_or_else(|| {
                ApiError::invalid_type(Some("messages".into()), "`messages` is required")
            })?;
            if messages.is_empty() {
                return Err(ApiError::invalid(
                    "messages",
                    "`messages` must hold at least one message",
                ));
            }
            let values = messages
                .iter()
                .enumerate()
                .map(|(i, m)| m.to_template_value(i))
                .collect::<Result<Vec<_>, _>>()?;
            let text = tok.render_chat(&values, true).map_err(|e| {
                ApiError::invalid(
                    "messages",
                    format!("The chat template refused the messages: {e}"),
                )
            })?;
            (
                "messages",
                vec![tok.encode(&text, false).map_err(internal)?],
            )
        }
        Endpoint::Completion => {
            if r.messages.is_some() {
                return Err(ApiError::invalid(
                    "messages",
                    "/v1/completions takes `prompt`; `messages` belongs to /v1/chat/completions",
                ));
            }
            let prompts = match &r.prompt {
                None => {
                    return Err(ApiError::invalid_type(
                        Some("prompt".into()),
                        "`prompt` is required",
                    ))
                }
                Some(Prompt::Text(t)) => vec![tok.encode(t, true).map_err(internal)?],
                Some(Prompt::Texts(ts)) => ts
                    .iter()
                    .map(|t| tok.encode(t, true))
                    .collect::<Result<_, _>>()
                    .map_err(internal)?,
                Some(Prompt::Tokens(ids)) => vec![ids.clone()],
                Some(Prompt::TokenLists(lists)) => lists.clone(),
            };
            let vocab = state.models.vocab_size;
            if let Some(bad) = prompts.iter().flatten().find(|&&id| id as usize >= vocab) {
                return Err(ApiError::invalid(
                    "prompt",
                    format!("token id {bad} is outside the vocabulary of {vocab}"),
                ));
            }
            ("prompt", prompts)
        }
    };
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(ApiError::invalid(
            prompt_param,
            "The prompt is empty (no tokens)",
        ));
    }

    let context = state.models.context_length;
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    if longest >= context {
        return Err(ApiError::context_length(
            prompt_param,
            format!("This model's maximum context length is {context} tokens, but the prompt has {longest} tokens; shorten it"),
        ));
    }
    let max_tokens_param = if r.max_completion_tokens.is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let max_new_tokens = match r.max_completion_tokens.or(r.max_tokens) {
        Some(0) => return Err(ApiError::invalid(max_tokens_param, format!("`{max_tokens_param}` must be at least 1"))),
        Some(m) if longest + m > context => {
            return Err(ApiError::context_length(
                max_tokens_param,
                format!(
                    "This model's maximum context length is {context} tokens; the prompt has {longest} and `{max_tokens_param}` asks for {m} more ({} in all). Ask for at most {}",
                    longest + m,
                    context - longest
                ),
            ))
        }
        Some(m) => m,
        None => context - longest,
    };

    let n = r.n.unwrap_or(1);
    let jobs = n * prompts.len();
    if n == 0 || jobs > state.limits.max_queue {
        return Err(ApiError::invalid(
            "n",
            format!("`n` must be at least 1, and n × prompts ({jobs}) at most this server's max_queue ({})", state.limits.max_queue),
        ));
    }
    if r.echo == Some(true) {
        return Err(ApiError::invalid("echo", "`echo` is not supported"));
    }
    let stops = r.stop.as_ref().map(|s| s.strings()).unwrap_or_default();
    if stops.len() > MAX_STOPS {
        return Err(ApiError::invalid(
            "stop",
            format!("at most {MAX_STOPS} stop strings, got {}", stops.len()),
        ));
    }
    let top_logprobs = match (endpoint, &r.logprobs) {
        (_, None) | (Endpoint::Chat, Some(Logprobs::Flag(false))) => {
            if r.top_logprobs.is_some() {
                return Err(ApiError::invalid(
                    "top_logprobs",
                    "`top_logprobs` needs `logprobs: true`",
                ));
            }
            None
        }
        (Endpoint::Chat, Some(Logprobs::Flag(true))) => Some(r.top_logprobs.unwrap_or(0)),
        (Endpoint::Chat, Some(Logprobs::Count(_))) => {
            return Err(ApiError::invalid(
                "logprobs",
                "chat `logprobs` is true or false; `top_logprobs` sets the count",
            ))
        }
        (Endpoint::Completion, Some(Logprobs::Count(k))) => Some(*k),
        (Endpoint::Completion, Some(Logprobs::Flag(_))) => {
            return Err(ApiError::invalid(
                "logprobs",
                "completions `logprobs` is the number of alternatives per token (0 to 20)",
            ))
        }
    };
    if let Some(k) = top_logprobs.filter(|&k| k > MAX_TOP_LOGPROBS) {
        let param = if endpoint == Endpoint::Chat {
            "top_logprobs"
        } else {
            "logprobs"
        };
        return Err(ApiError::invalid(
            param,
            format!("at most {MAX_TOP_LOGPROBS} alternatives per token, got {k}"),
        ));
    }

    let seed = r.seed.unwrap_or_else(rand::random);
    let choices = SamplingChoices {
        temperature: r.temperature,
        top_k: r.top_k,
        top_p: r.top_p,
        min_p: r.min_p,
        repetition_penalty: r.repetition_penalty,
    };
    let sampling = state.models.defaults.sampling_with(seed, &choices);
    if let Err(e) = sampling.validate() {
        // The message starts with the setting's name (`top_p must be in (0, 1]`).
        let message = match e {
            whet_models::Error::Generation(m) => m,
            other => other.to_string(),
        };
        let param = message
            .split_whitespace()
            .next()
            .unwrap_or("temperature")
            .to_string();
        return Err(ApiError::invalid(&param, message));
    }
    let eos_token_ids = if r.ignore_eos == Some(true) {
        Vec::new()
    } else {
        served.eos_token_ids.clone()
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let prefix = if endpoint == Endpoint::Chat {
        "chatcmpl"
    } else {
        "cmpl"
    };
    Ok(Plan {
        endpoint,
        id: format!("{prefix}-{:032x}", rand::random::<u128>()),
        created,
        model: served.name.clone(),
        adapter: served.adapter,
        tokenizer: served.tokenizer.clone(),
        prompts,
        n,
        params: GenerationParams {
            max_new_tokens,
            eos_token_ids,
            sampling,
        },
        stops,
        top_logprobs,
        stream: r.stream == Some(true),
        include_usage: r.stream_options.as_ref().is_some_and(|o| o.include_usage),
    })
}

/// Queues one job per choice; they share one event channel.
fn submit(
    state: &AppState,
    plan: &Plan,
) -> Result<(UnboundedReceiver<Event>, Vec<Choice>), ApiError> {
    let (tx, rx) = unbounded_channel();
    let mut choices = Vec::new();
    for (p, prompt) in plan.prompts.iter().enumerate() {
        for j in 0..plan.n {
            let index = p * plan.n + j;
            let cancel = Arc::new(AtomicBool::new(false));
            let mut params = plan.params.clone();
            params.sampling.seed = params.sampling.seed.wrapping_add(index as u64);
            let job = Job {
                prompt: prompt.clone(),
                adapter: plan.adapter,
                params,
                top_logprobs: plan.top_logprobs,
                index,
                events: tx.clone(),
                cancel: cancel.clone(),
            };
            // On failure the receiver is dropped on return, which cancels the jobs queued so far.
            state.engine.submit(job).map_err(|e| match e {
                SubmitError::QueueFull => ApiError::queue_full(state.limits.max_queue),
                SubmitError::Stopped => ApiError::unavailable(),
            })?;
            choices.push(Choice::new(&plan.stops, cancel));
        }
    }
    Ok((rx, choices))
}

/// The next engine event, or the error that ends the request.
async fn next_event(
    events: &mut UnboundedReceiver<Event>,
    deadline: Instant,
    timeout: f64,
) -> Result<Event, ApiError> {
    match tokio::time::timeout_at(deadline, events.recv()).await {
        Err(_) => Err(ApiError::timeout(timeout)),
        Ok(None) => Err(ApiError::unavailable()),
        Ok(Some(event)) => Ok(event),
    }
}

fn usage(plan: &Plan, choices: &[Choice]) -> Value {
    let prompt_tokens: usize = plan.prompts.iter().map(Vec::len).sum();
    let completion_tokens: usize = choices.iter().map(|c| c.completion_tokens).sum();
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// Waits for every choice and answers with one JSON object.
async fn collect(
    plan: Plan,
    mut events: UnboundedReceiver<Event>,
    mut choices: Vec<Choice>,
    deadline: Instant,
    timeout: f64,
) -> Result<Response, ApiError> {
    let mut open = choices.len();
    while open > 0 {
        let event = next_event(&mut events, deadline, timeout).await?;
        let Some(choice) = choices.get_mut(event.index) else {
            continue;
        };
        if let Update::Finished(_) = choice.apply(event.kind, &plan.tokenizer)? {
            open -= 1;
        }
    }
    let usage = usage(&plan, &choices);
    let want_logprobs = plan.top_logprobs.is_some();
    let tok = &plan.tokenizer;
    let body = match plan.endpoint {
        Endpoint::Chat => {
            let list: Vec<Value> = choices
                .iter_mut()
                .enumerate()
                .map(|(i, c)| {
                    let logprobs = if want_logprobs {
                        c.chat_logprobs(tok, false)
                    } else {
                        Value::Null
                    };
                    json!({
                        "index": i,
                        "message": {"role": "assistant", "content": c.text},
                        "logprobs": logprobs,
                        "finish_reason": c.finish,
                    })
                })
                .collect();
            json!({"id": plan.id, "object": "chat.completion", "created": plan.created, "model": plan.model,
                   "choices": list, "usage": usage})
        }
        Endpoint::Completion => {
            let list: Vec<Value> = choices
                .iter_mut()
                .enumerate()
                .map(|(i, c)| {
                    let logprobs = if want_logprobs { c.completion_logprobs(tok, false) } else { Value::Null };
                    json!({"index": i, "text": c.text, "logprobs": logprobs, "finish_reason": c.finish})
                })
                .collect();
            json!({"id": plan.id, "object": "text_completion", "created": plan.created, "model": plan.model,
                   "choices": list, "usage": usage})
        }
    };
    Ok(axum::Json(body).into_response())
}

/// Answers with server-sent events fed by a task that follows the engine's events. When the
/// client goes away the response stream is dropped, the task's sends fail, it returns and drops
/// the event receiver, and the engine cancels the jobs.
fn stream(
    plan: Plan,
    events: UnboundedReceiver<Event>,
    choices: Vec<Choice>,
    deadline: Instant,
    timeout: f64,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<SseEvent>(64);
    tokio::spawn(async move {
        let mut writer = ChunkWriter { plan, tx };
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
    plan: Plan,
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
            if let Some(error) = e {
                let _ = self.send(error.body()).await;
            }
            let _ = self.tx.send(SseEvent::default().data("[DONE]")).await;
            return;
        }
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

//! `POST /v1/chat/completions` and `POST /v1/completions`, as OpenAI defines them, streamed over
//! server-sent events (`data: {chunk}` lines, then `data: [DONE]`; see `completion_stream`) or
//! answered whole.
//!
//! A request is checked in full before it reaches the engine ([`plan`]): the model name (an A/B
//! route's name is resolved to one of its variants here, see `routes`), the
//! prompt (chat messages rendered with the served model's chat template and its generation
//! prompt, as `whet generate --messages` renders them; completion prompts tokenised with special
//! tokens, as `whet generate --prompt` does), prompt plus `max_tokens` within the model's
//! context, and the sampling values. Sampling defaults are the base model's
//! `generation_config.json` (greedy unless it sets `do_sample`), which a request's
//! `temperature`, `top_p`, ... override, so a request without them generates what `whet
//! generate` does. Each of `n` choices (per prompt) is one engine job with seed `seed + index`.
//! The guardrail policy of the requested name (route or model, see `guardrails`) checks the
//! prompt here, before it is tokenised (redacted text is what the model and the feedback
//! database see), and the generated text in `choice`, streamed or not.
//! A finished request is queued for the feedback database before its last byte goes out, and a
//! [`RequestTrace`] reports every request, failed or not, to the metrics and the log.
//!
//! Not supported yet: `echo`, tools and function calling, `response_format`, penalties other than
//! `repetition_penalty`, `logit_bias`, `best_of`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::Instant;
use whet_data::ModelTokenizer;
use whet_models::{GenerationParams, SamplingChoices};

use crate::api_error::ApiError;
use crate::api_types::{parse_request, CompletionRequest, Logprobs, Prompt};
use crate::choice::{Choice, Update};
use crate::completion_stream::stream;
use crate::engine::{Event, EventKind, Job, SubmitError};
use crate::feedback_store::ResponseRecord;
use crate::guardrails::{intervention, Guardrail, Intervention};
use crate::request_trace::{Outcome, RequestTrace};
use crate::server::AppState;

/// The response header naming the model or adapter that served a request.
pub const MODEL_HEADER: &str = "x-whet-model";
/// The response header repeating the response's `id`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// On requests for an A/B route: the route, and the variant that served the request.
pub const ROUTE_HEADER: &str = "x-whet-route";
pub const VARIANT_HEADER: &str = "x-whet-variant";
/// On requests served by an adapter: the adapter's version (a short hash of its weights).
pub const ADAPTER_VERSION_HEADER: &str = "x-whet-adapter-version";

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
pub(crate) struct Plan {
    pub(crate) endpoint: Endpoint,
    pub(crate) id: String,
    pub(crate) created: u64,
    /// The served model: the requested one, or the variant picked for a route.
    pub(crate) model: String,
    /// The A/B route the request named, if it named one.
    pub(crate) route: Option<String>,
    pub(crate) user: Option<String>,
    /// What the feedback database keeps of the prompt: the chat messages as the template saw
    /// them, or the completion prompt as sent.
    pub(crate) prompt_json: Value,
    pub(crate) adapter: Option<Arc<crate::lora_set::LoraSet>>,
    pub(crate) adapter_version: Option<String>,
    pub(crate) tokenizer: Arc<ModelTokenizer>,
    pub(crate) prompts: Vec<Vec<u32>>,
    pub(crate) n: usize,
    pub(crate) params: GenerationParams,
    pub(crate) stops: Vec<String>,
    pub(crate) top_logprobs: Option<usize>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    /// The guardrail policy of the requested name, if any.
    pub(crate) guard: Option<Arc<Guardrail>>,
    /// What the guardrails did to the prompt.
    pub(crate) verdicts: Vec<Intervention>,
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(state, Endpoint::Chat, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(state, Endpoint::Completion, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn answer(
    state: Arc<AppState>,
    endpoint: Endpoint,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut trace = RequestTrace::start(state.metrics.clone(), endpoint);
    let (plan, events, choices) = match start(&state, endpoint, body, &mut trace) {
        Ok(started) => started,
        Err(e) => {
            if matches!(e.code, "content_filter" | "guardrail_limit") {
                store_refusal(&state, endpoint, &trace);
            }
            trace.fail(e.status.as_u16(), e.code);
            return Err(e);
        }
    };
    let deadline = trace.started() + state.limits.request_timeout;
    let mut headers = vec![
        (MODEL_HEADER, plan.model.clone()),
        (REQUEST_ID_HEADER, plan.id.clone()),
    ];
    if let Some(route) = &plan.route {
        headers.push((ROUTE_HEADER, route.clone()));
        headers.push((VARIANT_HEADER, plan.model.clone()));
    }
    if let Some(version) = &plan.adapter_version {
        headers.push((ADAPTER_VERSION_HEADER, version.clone()));
    }
    let timeout = state.limits.request_timeout.as_secs_f64();
    let mut response = if plan.stream {
        stream(
            state.clone(),
            plan,
            events,
            choices,
            deadline,
            timeout,
            trace,
        )
    } else {
        match collect(&state, plan, events, choices, deadline, timeout, &mut trace).await {
            Ok(response) => response,
            Err(e) => {
                trace.fail(e.status.as_u16(), e.code);
                return Err(e);
            }
        }
    };
    let response_headers = response.headers_mut();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(HeaderName::from_static(name), value);
        }
    }
    Ok(response)
}

/// Parses and checks a request and queues its jobs.
fn start(
    state: &AppState,
    endpoint: Endpoint,
    body: Result<Bytes, BytesRejection>,
    trace: &mut RequestTrace,
) -> Result<(Plan, UnboundedReceiver<Event>, Vec<Choice>), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.limits.max_request_bytes)
        } else {
            ApiError::invalid_json(format!("Could not read the request body: {e}"))
        }
    })?;
    let request = parse_request(&body)?;
    let plan = plan(state, endpoint, &request, trace)?;
    let (events, choices) = submit(state, &plan)?;
    trace.planned(plan.prompts.iter().map(Vec::len).sum(), choices.len());
    Ok((plan, events, choices))
}

/// Checks `r` against the served model and the server's limits and turns it into engine work.
fn plan(
    state: &AppState,
    endpoint: Endpoint,
    r: &CompletionRequest,
    trace: &mut RequestTrace,
) -> Result<Plan, ApiError> {
    let prefix = if endpoint == Endpoint::Chat {
        "chatcmpl"
    } else {
        "cmpl"
    };
    let id = format!("{prefix}-{:032x}", rand::random::<u128>());
    // A route picks its variant by the user (sticky) or else by the random response id.
    let (route, model) = match state
        .routes
        .pick(&r.model, r.user.as_deref().unwrap_or(&id))
    {
        Some(variant) => (Some(r.model.clone()), variant),
        None => (None, r.model.clone()),
    };
    let served = state
        .models
        .get(&model)
        .ok_or_else(|| ApiError::model_not_found(&model, &state.model_and_route_names()))?;
    trace.routed(&id, route.as_deref(), &served.name);
    let guard = state.guardrails.for_name(&r.model);
    let mut verdicts = Vec::new();
    let tok = &served.tokenizer;
    let internal = |e: whet_data::Error| ApiError::internal(e.to_string());
    let (prompt_param, prompts, prompt_json) = match endpoint {
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
            let mut values = messages
                .iter()
                .enumerate()
                .map(|(i, m)| m.to_template_value(i))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(g) = &guard {
                let checked = g.check_messages(&mut values, &mut verdicts);
                trace.intervened(&verdicts);
                checked?;
            }
            let text = tok.render_chat(&values, true).map_err(|e| {
                ApiError::invalid(
                    "messages",
                    format!("The chat template refused the messages: {e}"),
                )
            })?;
            (
                "messages",
                vec![tok.encode(&text, false).map_err(internal)?],
                Value::Array(values),
            )
        }
        Endpoint::Completion => {
            if r.messages.is_some() {
                return Err(ApiError::invalid(
                    "messages",
                    "/v1/completions takes `prompt`; `messages` belongs to /v1/chat/completions",
                ));
            }
            let texts = match &r.prompt {
                Some(Prompt::Text(t)) => Some(vec![t.clone()]),
                Some(Prompt::Texts(ts)) => Some(ts.clone()),
                _ => None,
            };
            let texts = match (&guard, texts) {
                (Some(g), Some(texts)) => {
                    let checked = g.check_texts(texts, &mut verdicts);
                    trace.intervened(&verdicts);
                    Some(checked?)
                }
                (_, texts) => texts,
            };
            let prompts = match &r.prompt {
                None => {
                    return Err(ApiError::invalid_type(
                        Some("prompt".into()),
                        "`prompt` is required",
                    ))
                }
                Some(Prompt::Text(_) | Prompt::Texts(_)) => texts
                    .iter()
                    .flatten()
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
            // With a guardrail, the prompt as the model saw it (redacted).
            let as_sent = match (&r.prompt, &texts) {
                (Some(Prompt::Text(_)), Some(t)) if guard.is_some() => json!(t[0]),
                (Some(Prompt::Texts(_)), Some(t)) if guard.is_some() => json!(t),
                _ => serde_json::to_value(&r.prompt).unwrap_or(Value::Null),
            };
            ("prompt", prompts, as_sent)
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
    let mut output_limit = context - longest;
    if let Some(g) = &guard {
        if let Some(limit) = g.max_prompt_tokens.filter(|&l| longest > l) {
            trace.intervened(&[intervention(
                "prompt_length",
                "refuse",
                &format!("{longest} tokens"),
            )]);
            return Err(ApiError::guardrail_limit(
                prompt_param,
                format!("The prompt has {longest} tokens; the guardrail policy `{}` allows at most {limit} (`max_prompt_tokens`); shorten the prompt", g.name),
            ));
        }
        if let Some(limit) = g.max_output_tokens {
            if let Some(m) = r
                .max_completion_tokens
                .or(r.max_tokens)
                .filter(|&m| m > limit)
            {
                trace.intervened(&[intervention(
                    "output_length",
                    "refuse",
                    &format!("{m} tokens"),
                )]);
                return Err(ApiError::guardrail_limit(
                    max_tokens_param,
                    format!("`{max_tokens_param}` is {m}; the guardrail policy `{}` allows at most {limit} (`max_output_tokens`); ask for {limit} or fewer", g.name),
                ));
            }
            output_limit = output_limit.min(limit);
        }
    }
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
        None => output_limit,
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
    if let (Some(g), Some(_)) = (guard.as_ref().filter(|g| g.checks_output()), top_logprobs) {
        return Err(ApiError::invalid(
            "logprobs",
            format!("log-probabilities are not available for `{}`: its guardrail policy `{}` checks the generated text, and per-token log-probabilities would show it unchecked; leave out `logprobs`", r.model, g.name),
        ));
    }
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
    Ok(Plan {
        endpoint,
        id,
        created,
        model: served.name.clone(),
        route,
        user: r.user.clone(),
        prompt_json,
        adapter: served.lora.clone(),
        adapter_version: served.version.clone(),
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
        guard,
        verdicts,
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
                adapter: plan.adapter.clone(),
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
            choices.push(Choice::new(&plan.stops, cancel, plan.guard.as_ref()));
        }
    }
    Ok((rx, choices))
}

/// The next engine event, or the error that ends the request.
pub(crate) async fn next_event(
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

pub(crate) fn usage(plan: &Plan, choices: &[Choice]) -> Value {
    let prompt_tokens: usize = plan.prompts.iter().map(Vec::len).sum();
    let completion_tokens: usize = choices.iter().map(|c| c.completion_tokens).sum();
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// A request whose choices all finished.
pub(crate) fn ok_outcome(choices: &[Choice]) -> Outcome<'static> {
    Outcome {
        status: 200,
        error: None,
        completion_tokens: choices.iter().map(|c| c.completion_tokens).sum(),
        finish_reason: choices.first().and_then(|c| c.finish),
    }
}

/// Queues a finished request for the feedback database (before the client has its last byte,
/// so feedback on it finds it).
pub(crate) fn store(state: &AppState, plan: &Plan, choices: &[Choice]) {
    let first = choices.first();
    let choices_json = (choices.len() > 1).then(|| {
        Value::from(choices.iter().map(|c| c.text.clone()).collect::<Vec<_>>()).to_string()
    });
    state.feedback.record(ResponseRecord {
        id: plan.id.clone(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        endpoint: match plan.endpoint {
            Endpoint::Chat => "chat",
            Endpoint::Completion => "completion",
        },
        route: plan.route.clone(),
        variant: plan.model.clone(),
        adapter_version: plan.adapter_version.clone(),
        user: plan.user.clone(),
        prompt: plan.prompt_json.to_string(),
        response: first.map(|c| c.text.clone()).unwrap_or_default(),
        finish_reason: first.and_then(|c| c.finish).map(str::to_string),
        choices: choices_json,
        prompt_tokens: plan.prompts.iter().map(Vec::len).sum(),
        completion_tokens: choices.iter().map(|c| c.completion_tokens).sum(),
        guardrails: plan.guard.as_ref().map(|_| {
            let all: Vec<&Intervention> = plan
                .verdicts
                .iter()
                .chain(choices.iter().flat_map(|c| c.verdicts()))
                .collect();
            serde_json::to_string(&all).unwrap_or_default()
        }),
    });
}

/// Stores a request a guardrail refused, with its verdicts but without its prompt (which may
/// hold what the guardrail refused, PII not yet redacted among it): `prompt` is `null`, the
/// response empty, `finish_reason` `content_filter`.
fn store_refusal(state: &AppState, endpoint: Endpoint, trace: &RequestTrace) {
    let (id, route, variant) = trace.routing();
    state.feedback.record(ResponseRecord {
        id: id.to_string(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        endpoint: match endpoint {
            Endpoint::Chat => "chat",
            Endpoint::Completion => "completion",
        },
        route: (!route.is_empty()).then(|| route.to_string()),
        variant: variant.to_string(),
        adapter_version: None,
        user: None,
        prompt: "null".into(),
        response: String::new(),
        finish_reason: Some("content_filter".into()),
        choices: None,
        prompt_tokens: 0,
        completion_tokens: 0,
        guardrails: Some(serde_json::to_string(trace.interventions()).unwrap_or_default()),
    });
}

/// Counts the output guardrails' interventions of finished choices.
pub(crate) fn trace_output_verdicts(trace: &mut RequestTrace, choices: &[Choice]) {
    for c in choices {
        trace.intervened(c.verdicts());
    }
}

/// Waits for every choice and answers with one JSON object.
async fn collect(
    state: &AppState,
    plan: Plan,
    mut events: UnboundedReceiver<Event>,
    mut choices: Vec<Choice>,
    deadline: Instant,
    timeout: f64,
    trace: &mut RequestTrace,
) -> Result<Response, ApiError> {
    let mut open = choices.len();
    while open > 0 {
        let event = next_event(&mut events, deadline, timeout).await?;
        if let EventKind::Token { .. } = event.kind {
            trace.token(event.index);
        }
        let Some(choice) = choices.get_mut(event.index) else {
            continue;
        };
        if let Update::Finished(_) = choice.apply(event.kind, &plan.tokenizer)? {
            open -= 1;
        }
    }
    store(state, &plan, &choices);
    trace_output_verdicts(trace, &choices);
    trace.finish(ok_outcome(&choices));
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

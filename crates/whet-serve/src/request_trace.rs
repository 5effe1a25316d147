//! What one completion request did, followed from its arrival to its end, then reported once:
//! to the Prometheus metrics ([`crate::metrics`]) and as one structured log line (`tracing`,
//! target `whet::request`) with the id, endpoint, route, variant, status, error code, token
//! counts, time to first token, duration and guardrail interventions (`guardrails`:
//! `guardrail:action:detail` items, comma-separated).
//!
//! A trace always ends exactly once: with [`RequestTrace::finish`] when the handler or the stream
//! task knows the outcome, or, when it is dropped unfinished (the client went away and axum
//! dropped the handler, or the stream task ended on a closed connection), as status 499.

use std::sync::Arc;
use std::time::Instant;

use crate::completions::Endpoint;
use crate::guardrails::Intervention;
use crate::metrics::Metrics;

/// HTTP status recorded for a client that went away before the end (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

pub struct RequestTrace {
    metrics: Arc<Metrics>,
    endpoint: Endpoint,
    started: Instant,
    id: String,
    route: String,
    variant: String,
    prompt_tokens: usize,
    first_token: Option<Instant>,
    /// Per choice, when its latest token arrived.
    last_token: Vec<Option<Instant>>,
    /// Tokens seen so far (what a failed request had generated).
    tokens_seen: usize,
    /// Whether the in-flight gauge counts this request (from [`RequestTrace::planned`] on).
    counted: bool,
    finished: bool,
    /// Guardrail interventions, counted as they are recorded and named in the log line.
    guardrails: Vec<Intervention>,
}

/// How a request ended.
pub struct Outcome<'a> {
    pub status: u16,
    /// The error's stable code, when it failed.
    pub error: Option<&'a str>,
    pub completion_tokens: usize,
    /// The first choice's finish reason.
    pub finish_reason: Option<&'a str>,
}

impl RequestTrace {
    pub fn start(metrics: Arc<Metrics>, endpoint: Endpoint) -> Self {
        Self {
            metrics,
            endpoint,
            started: Instant::now(),
            id: String::new(),
            route: String::new(),
            variant: String::new(),
            prompt_tokens: 0,
            first_token: None,
            last_token: Vec::new(),
            tokens_seen: 0,
            counted: false,
            finished: false,
            guardrails: Vec::new(),
        }
    }

    /// When the request arrived.
    pub fn started(&self) -> tokio::time::Instant {
        self.started.into()
    }

    fn labels(&self) -> [&str; 2] {
        [&self.route, &self.variant]
    }

    /// The request's id, route (if it named one) and the variant serving it.
    pub fn routed(&mut self, id: &str, route: Option<&str>, variant: &str) {
        self.id = id.to_string();
        self.route = route.unwrap_or_default().to_string();
        self.variant = variant.to_string();
    }

    /// Counts guardrail interventions and keeps them for the log line.
    pub fn intervened(&mut self, verdicts: &[Intervention]) {
        for v in verdicts {
            self.metrics
                .guardrail_interventions
                .with_label_values(&[&self.route, &self.variant, v.guardrail, v.action])
                .inc();
            self.guardrails.push(v.clone());
        }
    }

    /// The interventions recorded so far.
    pub fn interventions(&self) -> &[Intervention] {
        &self.guardrails
    }

    /// The request's id, route (empty: none) and variant, once routed.
    pub fn routing(&self) -> (&str, &str, &str) {
        (&self.id, &self.route, &self.variant)
    }

    /// The request passed its checks and goes to the engine.
    pub fn planned(&mut self, prompt_tokens: usize, choices: usize) {
        self.prompt_tokens = prompt_tokens;
        self.last_token = vec![None; choices];
        self.metrics
            .in_flight
            .with_label_values(&self.labels())
            .inc();
        self.counted = true;
    }

    /// A token of choice `index` arrived.
    pub fn token(&mut self, index: usize) {
        let now = Instant::now();
        self.tokens_seen += 1;
        if self.first_token.is_none() {
            self.first_token = Some(now);
            self.metrics
                .time_to_first_token
                .with_label_values(&self.labels())
                .observe(now.duration_since(self.started).as_secs_f64());
        }
        if let Some(last) = self.last_token.get_mut(index) {
            if let Some(previous) = last.replace(now) {
                self.metrics
                    .inter_token_latency
                    .with_label_values(&self.labels())
                    .observe(now.duration_since(previous).as_secs_f64());
            }
        }
    }

    /// Records the outcome and writes the request's log line.
    pub fn finish(&mut self, outcome: Outcome<'_>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let labels = self.labels();
        let endpoint = match self.endpoint {
            Endpoint::Chat => "chat",
            Endpoint::Completion => "completion",
        };
        let status = outcome.status.to_string();
        let m = &self.metrics;
        m.requests
            .with_label_values(&[labels[0], labels[1], endpoint, &status])
            .inc();
        let duration = self.started.elapsed().as_secs_f64();
        if self.counted {
            m.in_flight.with_label_values(&labels).dec();
            m.request_duration
                .with_label_values(&labels)
                .observe(duration);
            m.prompt_tokens
                .with_label_values(&labels)
                .inc_by(self.prompt_tokens as u64);
            m.completion_tokens
                .with_label_values(&labels)
                .inc_by(outcome.completion_tokens as u64);
        }
        let ttft_ms = self
            .first_token
            .map(|t| (t.duration_since(self.started).as_secs_f64() * 1000.0).round() as u64);
        tracing::info!(
            target: "whet::request",
            id = %self.id,
            endpoint = %endpoint,
            route = %self.route,
            variant = %self.variant,
            status = outcome.status,
            error = %outcome.error.unwrap_or(""),
            finish_reason = %outcome.finish_reason.unwrap_or(""),
            prompt_tokens = self.prompt_tokens,
            completion_tokens = outcome.completion_tokens,
            ttft_ms = ttft_ms.unwrap_or(0),
            duration_ms = (duration * 1000.0).round() as u64,
            guardrails = %self
                .guardrails
                .iter()
                .map(|v| format!("{}:{}:{}", v.guardrail, v.action, v.detail))
                .collect::<Vec<_>>()
                .join(","),
            "request"
        );
    }

    /// Ends the trace with an error's status and code.
    pub fn fail(&mut self, status: u16, code: &str) {
        self.finish(Outcome {
            status,
            error: Some(code),
            completion_tokens: self.tokens_seen,
            finish_reason: None,
        });
    }
}

impl Drop for RequestTrace {
    fn drop(&mut self) {
        if !self.finished {
            self.fail(CLIENT_CLOSED, "client_closed");
        }
    }
}

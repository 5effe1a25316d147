//! Prometheus metrics for `GET /metrics` (text exposition format 0.0.4), one registry per
//! server.
//!
//! The `prometheus` crate (TiKV's) rather than the `metrics` facade with its Prometheus
//! exporter: the facade records into one process-wide recorder, and several servers share a
//! test process; an explicit registry per server keeps their counts apart. Histograms are real
//! Prometheus histograms (cumulative buckets), so p95s are `histogram_quantile` over any window
//! (see `configs/prometheus-alerts.yml`).
//!
//! Per-request series are labelled by `route` (the A/B route named as `model`, or empty) and
//! `variant` (the model that served it, or empty when the request failed before one was chosen):
//!
//! - `whet_requests_total{route,variant,endpoint,status}`: finished requests by HTTP status (a
//!   stream that failed after its headers counts with the error's status; a client that went
//!   away before the end counts as 499, nginx's "client closed request");
//! - `whet_time_to_first_token_seconds`, `whet_inter_token_latency_seconds` (per choice, between
//!   consecutive tokens) and `whet_request_duration_seconds` histograms;
//! - `whet_prompt_tokens_total`, `whet_completion_tokens_total` counters;
//! - `whet_requests_in_flight` gauge;
//! - `whet_feedback_rating` histogram (buckets at 1 to 5) and
//!   `whet_feedback_preferred_total{route,variant,preferred}` counter.
//!
//! - `whet_guardrail_interventions_total{route,variant,guardrail,action}`: every guardrail
//!   intervention (`guardrail`: `pii_input`, `pii_output`, `blocked_input`, `blocked_output`,
//!   `injection`, `prompt_length`, `output_length`; `action`: `redact`, `refuse`, `flag`).
//!
//! Requests refused for their key never reach a route: `whet_auth_failures_total{status}` (401 or
//! 403) counts them.
//!
//! Engine-wide gauges, set when scraped, carry no route or variant (the engine's queue and
//! batch are shared by all): `whet_queue_depth`, `whet_queue_capacity` (`max_queue`),
//! `whet_batch_size` (sequences decoding), `whet_batch_capacity` (`max_batch`), and the counter
//! `whet_generated_tokens_total`.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::engine::EngineStats;

const LABELS: [&str; 2] = ["route", "variant"];

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub time_to_first_token: HistogramVec,
    pub inter_token_latency: HistogramVec,
    pub request_duration: HistogramVec,
    pub prompt_tokens: IntCounterVec,
    pub completion_tokens: IntCounterVec,
    pub in_flight: IntGaugeVec,
    pub feedback_rating: HistogramVec,
    pub feedback_preferred: IntCounterVec,
    pub guardrail_interventions: IntCounterVec,
    /// Requests refused for their key (401, 403), before any handler: by status.
    pub auth_failures: IntCounterVec,
    queue_depth: IntGauge,
    queue_capacity: IntGauge,
    batch_size: IntGauge,
    batch_capacity: IntGauge,
    generated_tokens: IntCounter,
    /// Serialises scrapes, so that two at once cannot both add the same engine tokens.
    scrape: Mutex<()>,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        &LABELS,
    )
}

impl Metrics {
    pub fn new(max_queue: usize, max_batch: usize) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let latency = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ];
        let metrics = Self {
            requests: IntCounterVec::new(
                Opts::new("whet_requests_total", "Finished requests by HTTP status"),
                &["route", "variant", "endpoint", "status"],
            )?,
            time_to_first_token: histogram(
                "whet_time_to_first_token_seconds",
                "From the request's arrival to its first generated token",
                &latency,
            )?,
            inter_token_latency: histogram(
                "whet_inter_token_latency_seconds",
                "Between consecutive generated tokens of one choice",
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            )?,
            request_duration: histogram(
                "whet_request_duration_seconds",
                "From the request's arrival to its last byte",
                &[
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                    300.0,
                ],
            )?,
            prompt_tokens: IntCounterVec::new(
                Opts::new(
                    "whet_prompt_tokens_total",
                    "Prompt tokens of finished requests",
                ),
                &LABELS,
            )?,
            completion_tokens: IntCounterVec::new(
                Opts::new(
                    "whet_completion_tokens_total",
                    "Generated tokens of finished requests",
                ),
                &LABELS,
            )?,
            in_flight: IntGaugeVec::new(
                Opts::new("whet_requests_in_flight", "Requests being answered"),
                &LABELS,
            )?,
            feedback_rating: histogram(
                "whet_feedback_rating",
                "Ratings (1 to 5) given through POST /v1/feedback",
                &[1.0, 2.0, 3.0, 4.0, 5.0],
            )?,
            feedback_preferred: IntCounterVec::new(
                Opts::new(
                    "whet_feedback_preferred_total",
                    "`preferred` verdicts given through POST /v1/feedback",
                ),
                &["route", "variant", "preferred"],
            )?,
            guardrail_interventions: IntCounterVec::new(
                Opts::new(
                    "whet_guardrail_interventions_total",
                    "Guardrail interventions (redactions, refusals, flags)",
                ),
                &["route", "variant", "guardrail", "action"],
            )?,
            auth_failures: IntCounterVec::new(
                Opts::new(
                    "whet_auth_failures_total",
                    "Requests refused for a missing, unknown or non-admin key",
                ),
                &["status"],
            )?,
            queue_depth: IntGauge::new("whet_queue_depth", "Requests waiting for a batch slot")?,
            queue_capacity: IntGauge::new("whet_queue_capacity", "The config's max_queue")?,
            batch_size: IntGauge::new("whet_batch_size", "Sequences decoding now")?,
            batch_capacity: IntGauge::new("whet_batch_capacity", "The config's max_batch")?,
            generated_tokens: IntCounter::new(
                "whet_generated_tokens_total",
                "Tokens the engine generated (cancelled sequences included)",
            )?,
            registry,
            scrape: Mutex::new(()),
        };
        metrics.queue_capacity.set(max_queue as i64);
        metrics.batch_capacity.set(max_batch as i64);
        let r = &metrics.registry;
        r.register(Box::new(metrics.requests.clone()))?;
        r.register(Box::new(metrics.time_to_first_token.clone()))?;
        r.register(Box::new(metrics.inter_token_latency.clone()))?;
        r.register(Box::new(metrics.request_duration.clone()))?;
        r.register(Box::new(metrics.prompt_tokens.clone()))?;
        r.register(Box::new(metrics.completion_tokens.clone()))?;
        r.register(Box::new(metrics.in_flight.clone()))?;
        r.register(Box::new(metrics.feedback_rating.clone()))?;
        r.register(Box::new(metrics.feedback_preferred.clone()))?;
        r.register(Box::new(metrics.guardrail_interventions.clone()))?;
        r.register(Box::new(metrics.auth_failures.clone()))?;
        r.register(Box::new(metrics.queue_depth.clone()))?;
        r.register(Box::new(metrics.queue_capacity.clone()))?;
        r.register(Box::new(metrics.batch_size.clone()))?;
        r.register(Box::new(metrics.batch_capacity.clone()))?;
        r.register(Box::new(metrics.generated_tokens.clone()))?;
        Ok(metrics)
    }

    /// Feedback on a response of `route` (empty: none) and `variant`.
    pub fn feedback(
        &self,
        route: &str,
        variant: &str,
        rating: Option<u8>,
        preferred: Option<bool>,
    ) {
        if let Some(r) = rating {
            self.feedback_rating
                .with_label_values(&[route, variant])
                .observe(f64::from(r));
        }
        if let Some(p) = preferred {
            let p = if p { "true" } else { "false" };
            self.feedback_preferred
                .with_label_values(&[route, variant, p])
                .inc();
        }
    }

    /// The text exposition of every metric, with the engine gauges read now.
    pub fn render(&self, engine: &EngineStats) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.queue_depth
            .set(engine.queued.load(Ordering::Relaxed) as i64);
        self.batch_size
            .set(engine.active.load(Ordering::Relaxed) as i64);
        let generated = engine.generated_tokens.load(Ordering::Relaxed);
        // The engine's counter is the truth; the Prometheus counter follows it.
        let seen = self.generated_tokens.get();
        if generated > seen {
            self.generated_tokens.inc_by(generated - seen);
        }
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

//! Monitoring: `/metrics` scraped after known requests shows the counters and histograms moved
//! by exactly those requests, with their route and variant labels; each request writes one
//! structured log line with its id, route, variant, status and token counts.

#![allow(clippy::unwrap_used)]

mod test_server;

use std::collections::BTreeMap;

use serde_json::json;
use test_server::{start, Captured, TestServer, ADAPTER};

/// One sample line of the text exposition format: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.trim_end_matches('}');
                    let labels = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once("=\"").unwrap();
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
                None => (series.to_string(), BTreeMap::new()),
            };
            (name, labels, value.parse().unwrap())
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels` (0 if none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied().unwrap_or(0.0)
}

fn scrape(server: &TestServer) -> Vec<Sample> {
    let reply = server.get("/metrics", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        reply.header("content-type")
    );
    parse_exposition(&reply.body)
}

#[test]
fn metrics_count_the_requests_with_route_and_variant_labels_and_each_request_logs_one_line() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let server = start(&format!(
        "api_keys = [\"sk-user\"]\n[routes.bot]\nbase = 0\n{ADAPTER} = 1\n[guardrails.strict]\napplies_to = [\"bot\"]\nblocked_words = [\"forbidden\"]"
    ));
    let key = Some("sk-user");
    let before = scrape(&server);
    assert_eq!(value(&before, "whet_queue_capacity", &[]), 64.0);
    assert_eq!(value(&before, "whet_batch_capacity", &[]), 8.0);
    assert_eq!(value(&before, "whet_requests_total", &[]), 0.0);

    // 3 completions on the base model, 5 tokens each (ignore_eos: no early stop).
    let body =
        json!({"model": "base", "prompt": "The Corvid", "max_tokens": 5, "ignore_eos": true});
    let mut base_ids = Vec::new();
    for _ in 0..3 {
        let reply = server.post("/v1/completions", &body.to_string(), key);
        assert_eq!(reply.status, 200, "{}", reply.body);
        base_ids.push(reply.json()["id"].as_str().unwrap().to_string());
    }
    let prompt_tokens = server
        .post("/v1/completions", &body.to_string(), key)
        .json()["usage"]["prompt_tokens"]
        .as_u64()
        .unwrap() as f64;
    // 2 chats through the route (all to the adapter), one of them streamed.
    let chat = json!({"model": "bot", "messages": [{"role": "user", "content": "Hello"}],
                      "max_tokens": 4, "ignore_eos": true, "user": "u1"});
    let reply = server.post("/v1/chat/completions", &chat.to_string(), key);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let routed_id = reply.json()["id"].as_str().unwrap().to_string();
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let reply = server.post("/v1/chat/completions", &streamed.to_string(), key);
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Failures: an unknown model (404, no variant) and a request over the context (400).
    let reply = server.post(
        "/v1/completions",
        &json!({"model": "nope", "prompt": "x"}).to_string(),
        key,
    );
    assert_eq!(reply.status, 404);
    let reply = server.post(
        "/v1/completions",
        &json!({"model": "base", "prompt": "x", "max_tokens": 1_000_000}).to_string(),
        key,
    );
    assert_eq!(reply.status, 400);
    // Refused for the key: counted apart, never reaching a route.
    let reply = server.post("/v1/completions", &body.to_string(), None);
    assert_eq!(reply.status, 401);
    // Feedback on a routed answer.
    let reply = server.post(
        "/v1/feedback",
        &json!({"id": routed_id, "rating": 4, "preferred": true}).to_string(),
        key,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    let m = scrape(&server);
    let base = [("route", ""), ("variant", "base")];
    let routed = [("route", "bot"), ("variant", ADAPTER)];
    let requests = |labels: &[(&str, &str)], endpoint: &str, status: &str| {
        let mut l = labels.to_vec();
        l.extend([("endpoint", endpoint), ("status", status)]);
        value(&m, "whet_requests_total", &l)
    };
    assert_eq!(requests(&base, "completion", "200"), 4.0);
    assert_eq!(requests(&routed, "chat", "200"), 2.0);
    assert_eq!(
        requests(&[("route", ""), ("variant", "")], "completion", "404"),
        1.0
    );
    assert_eq!(requests(&base, "completion", "400"), 1.0);

    assert_eq!(value(&m, "whet_completion_tokens_total", &base), 20.0);
    assert_eq!(
        value(&m, "whet_prompt_tokens_total", &base),
        4.0 * prompt_tokens
    );
    assert_eq!(value(&m, "whet_completion_tokens_total", &routed), 8.0);
    assert_eq!(
        value(&m, "whet_time_to_first_token_seconds_count", &base),
        4.0
    );
    assert_eq!(
        value(&m, "whet_time_to_first_token_seconds_count", &routed),
        2.0
    );
    // Gaps between tokens: 4 per 5-token completion, 3 per 4-token chat.
    assert_eq!(
        value(&m, "whet_inter_token_latency_seconds_count", &base),
        16.0
    );
    assert_eq!(
        value(&m, "whet_inter_token_latency_seconds_count", &routed),
        6.0
    );
    assert_eq!(
        value(&m, "whet_request_duration_seconds_count", &routed),
        2.0
    );
    let mut inf = routed.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        value(&m, "whet_time_to_first_token_seconds_bucket", &inf),
        2.0
    );
    assert_eq!(value(&m, "whet_requests_in_flight", &routed), 0.0);
    assert_eq!(value(&m, "whet_feedback_rating_count", &routed), 1.0);
    assert_eq!(value(&m, "whet_feedback_rating_sum", &routed), 4.0);
    let mut preferred = routed.to_vec();
    preferred.push(("preferred", "true"));
    assert_eq!(value(&m, "whet_feedback_preferred_total", &preferred), 1.0);
    assert_eq!(value(&m, "whet_generated_tokens_total", &[]), 28.0);
    assert_eq!(value(&m, "whet_queue_depth", &[]), 0.0);
    assert_eq!(
        value(&m, "whet_auth_failures_total", &[("status", "401")]),
        1.0
    );

    // One log line per request, with its fields.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("whet::request"))
        .collect();
    assert_eq!(lines.len(), 8, "{text}");
    let routed_line = lines.iter().find(|l| l.contains(&routed_id)).unwrap();
    for field in [
        "route=bot".to_string(),
        format!("variant={ADAPTER}"),
        "status=200".into(),
        "completion_tokens=4".into(),
        "endpoint=chat".into(),
    ] {
        assert!(routed_line.contains(&field), "{field} in {routed_line}");
    }
    assert!(lines
        .iter()
        .any(|l| l.contains("status=404") && l.contains("error=model_not_found")));
    for id in &base_ids {
        assert_eq!(lines.iter().filter(|l| l.contains(id.as_str())).count(), 1);
    }

    // A prompt the route's guardrail refuses: counted by guardrail and action.
    let refused = json!({"model": "bot", "messages": [{"role": "user", "content": "Say the forbidden word"}], "user": "u1"});
    let reply = server.post("/v1/chat/completions", &refused.to_string(), key);
    assert_eq!(reply.status, 400, "{}", reply.body);
    let m = scrape(&server);
    let hits = [("route", "bot"), ("variant", ADAPTER), ("guardrail", "blocked_input"), ("action", "refuse")];
    assert_eq!(value(&m, "whet_guardrail_interventions_total", &hits), 1.0);

    // Every series the example alert rules use exists.
    let rules = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs/prometheus-alerts.yml"),
    )
    .unwrap();
    let names: std::collections::BTreeSet<&str> = m.iter().map(|(n, _, _)| n.as_str()).collect();
    let used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("whet_"))
        .collect();
    assert!(used.len() >= 8, "{used:?}");
    for name in used {
        assert!(
            names.contains(name),
            "the alert rules use `{name}`, which /metrics lacks"
        );
    }
}

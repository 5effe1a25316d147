//! A/B routes end to end: a route over the base model and the test adapter, the variant in the
//! response's `model` and headers, shares over many users within binomial bounds, one variant
//! per user, weights changed at run time by an admin, and adapter versions.

#![allow(clippy::unwrap_used)]

mod test_server;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use test_server::{adapter_dir, start, TestServer, ADAPTER};

const ROUTE: &str = "support-bot";

fn routed_server(weights: &str, keys: &str) -> TestServer {
    start(&format!("{keys}\n[routes.{ROUTE}]\n{weights}"))
}

/// One cheap routed request; the variant from the body, checked against the headers.
fn ask(server: &TestServer, user: Option<&str>, key: Option<&str>) -> String {
    let mut body = json!({"model": ROUTE, "prompt": "The Corvid", "max_tokens": 1});
    if let Some(user) = user {
        body["user"] = json!(user);
    }
    let reply = server.post("/v1/completions", &body.to_string(), key);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let variant = reply.json()["model"].as_str().unwrap().to_string();
    assert_eq!(reply.header("x-whet-variant"), Some(variant.as_str()));
    assert_eq!(reply.header("x-whet-model"), Some(variant.as_str()));
    assert_eq!(reply.header("x-whet-route"), Some(ROUTE));
    variant
}

/// Variant counts over `users` distinct users, asked from 4 threads.
fn counts(server: &TestServer, users: usize) -> BTreeMap<String, usize> {
    let chunks: Vec<Vec<usize>> = (0..4)
        .map(|t| (0..users).filter(|i| i % 4 == t).collect())
        .collect();
    let threads: Vec<_> = chunks
        .into_iter()
        .map(|ids| {
            let url = server.url.clone();
            std::thread::spawn(move || {
                let server = TestServer { url };
                ids.iter()
                    .map(|i| ask(&server, Some(&format!("user-{i}")), None))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut counts = BTreeMap::new();
    for t in threads {
        for v in t.join().unwrap() {
            *counts.entry(v).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn shares_over_400_users_follow_the_weights_and_each_user_keeps_one_variant() {
    let server = routed_server(&format!("base = 90\n{ADAPTER} = 10"), "");
    let n = 400;
    let c = counts(&server, n);
    let p = c.get("base").copied().unwrap_or(0) as f64 / n as f64;
    // The counts are deterministic (a fixed hash of fixed names), but the claim is statistical:
    // the share of a 90/10 split over 400 users lies within 4 binomial standard deviations
    // (sigma = sqrt(0.9 * 0.1 / 400) = 0.015) of 0.9.
    let sigma = (0.9f64 * 0.1 / n as f64).sqrt();
    assert!(
        (p - 0.9).abs() < 4.0 * sigma,
        "base share {p}, counts {c:?}"
    );
    assert_eq!(c.values().sum::<usize>(), n);
    assert!(c.get(ADAPTER).copied().unwrap_or(0) > 0, "{c:?}");

    // Stickiness: the same user gets the same variant every time, for users of either variant.
    let mut seen = BTreeMap::new();
    for i in 0..40 {
        let user = format!("user-{i}");
        let first = ask(&server, Some(&user), None);
        if seen.contains_key(&first) {
            continue;
        }
        for _ in 0..20 {
            assert_eq!(ask(&server, Some(&user), None), first, "user {user}");
        }
        seen.insert(first, user);
    }
    assert_eq!(seen.len(), 2, "both variants among 40 users: {seen:?}");

    // Without `user`, each request is assigned afresh (by its random id): a 50/50 route shows
    // both variants in 40 requests (all one: probability 2^-39).
    let server = routed_server(&format!("base = 1\n{ADAPTER} = 1"), "");
    let variants: std::collections::BTreeSet<String> =
        (0..40).map(|_| ask(&server, None, None)).collect();
    assert_eq!(variants.len(), 2, "{variants:?}");
}

#[test]
fn streamed_routed_chunks_name_the_variant() {
    let server = routed_server(&format!("base = 0\n{ADAPTER} = 1"), "");
    let body = json!({"model": ROUTE, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 3, "stream": true, "user": "u1"});
    let reply = server.post_json("/v1/chat/completions", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-whet-variant"), Some(ADAPTER));
    for data in reply.sse_data().iter().filter(|d| *d != "[DONE]") {
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["model"], ADAPTER, "{data}");
    }
}

#[test]
fn an_admin_changes_the_weights_at_run_time_and_others_get_401_or_403() {
    let keys = "api_keys = [\"sk-user\"]\nadmin_keys = [\"sk-admin\"]";
    let server = routed_server(&format!("base = 1\n{ADAPTER} = 0"), keys);
    let user = Some("sk-user");
    for i in 0..10 {
        assert_eq!(ask(&server, Some(&format!("u{i}")), user), "base");
    }
    let path = format!("/v1/routes/{ROUTE}");
    let to_adapter = json!({"weights": {"base": 0, ADAPTER: 3}}).to_string();

    let reply = server.put(&path, &to_adapter, None);
    assert_eq!(reply.status, 401, "{}", reply.body);
    let reply = server.put(&path, &to_adapter, Some("sk-wrong"));
    assert_eq!(reply.status, 401, "{}", reply.body);
    let reply = server.put(&path, &to_adapter, user);
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "admin_key_required");
    assert_eq!(
        ask(&server, Some("u0"), user),
        "base",
        "refused changes change nothing"
    );

    // Bad updates: 400 (or 404 for an unknown route) in OpenAI's format, naming the fault.
    let admin = Some("sk-admin");
    for (body, status, needle) in [
        (json!({"weights": {"nope": 1}}).to_string(), 400, "`nope`"),
        (
            json!({"weights": {"base": 0, ADAPTER: 0}}).to_string(),
            400,
            "above zero",
        ),
        (
            json!({"weights": {"base": "ten"}}).to_string(),
            400,
            "weights.base",
        ),
        (
            json!({"weights": {"base": -1}}).to_string(),
            400,
            "weights.base",
        ),
        (json!({"weigths": {"base": 1}}).to_string(), 400, "weigths"),
        ("{\"weights\": ".to_string(), 400, "JSON"),
    ] {
        let reply = server.put(&path, &body, admin);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let reply = server.put("/v1/routes/nope", &to_adapter, admin);
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "route_not_found");

    let reply = server.put(&path, &to_adapter, admin);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["weights"], json!({"base": 0, ADAPTER: 3}));
    for i in 0..10 {
        assert_eq!(ask(&server, Some(&format!("u{i}")), user), ADAPTER);
    }
    let models = server.get("/v1/models", user).json();
    let route = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == ROUTE)
        .unwrap()
        .clone();
    assert_eq!(route["route"]["weights"], json!({"base": 0, ADAPTER: 3}));
}

#[test]
fn models_list_routes_and_adapter_versions_and_responses_carry_the_version() {
    let server = routed_server(&format!("base = 1\n{ADAPTER} = 1"), "");
    let weights = std::fs::read(adapter_dir().join("adapter_model.safetensors")).unwrap();
    let digest = Sha256::digest(&weights);
    let version: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();

    let models = server.get("/v1/models", None).json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["base", ADAPTER, ROUTE]);
    assert_eq!(models["data"][1]["version"], version);
    assert!(models["data"][0].get("version").is_none());
    let route = server.get(&format!("/v1/models/{ROUTE}"), None).json();
    assert_eq!(route["route"]["weights"], json!({"base": 1, ADAPTER: 1}));

    let ask_model = |model: &str| {
        server.post_json(
            "/v1/completions",
            &json!({"model": model, "prompt": "The Corvid", "max_tokens": 1}),
        )
    };
    let reply = ask_model(ADAPTER);
    assert_eq!(
        reply.header("x-whet-adapter-version"),
        Some(version.as_str())
    );
    assert_eq!(reply.header("x-whet-variant"), None, "not routed");
    let reply = ask_model("base");
    assert_eq!(reply.header("x-whet-adapter-version"), None);
    let reply = ask_model("no-such");
    assert_eq!(reply.status, 404);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(&format!("`{ROUTE}` (route)")), "{message}");
}

//! Bad requests, authentication, the queue limit and cancellation: each answered with the right
//! status in OpenAI's error format, and the server keeps serving afterwards.

#![allow(clippy::unwrap_used)]

mod test_server;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_server::{chat_messages, next_data, start, TestServer};

/// Checks OpenAI's error shape and returns the error object.
fn error_of(reply: &test_server::Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    let error = body["error"].clone();
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error["code"].is_string(),
        "{body}"
    );
    error
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": chat_messages("Is there a way to set the time manually on the WX-4?"), "max_tokens": 5})
}

fn still_serves(server: &TestServer) {
    let reply = server.post_json("/v1/chat/completions", &chat("base"));
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn bad_requests_get_openai_errors_and_the_server_keeps_serving() {
    let server = start("max_request_bytes = 4096");
    let path = "/v1/chat/completions";

    let e = error_of(
        &server.post(path, "{\"model\": \"base\", \"messages\": [", None),
        400,
    );
    assert_eq!(e["code"], "invalid_json");
    still_serves(&server);

    let e = error_of(
        &server.post(path, r#"{"model": "base", "messages": "hello"}"#, None),
        400,
    );
    assert_eq!(
        (e["code"].as_str(), e["param"].as_str()),
        (Some("invalid_type"), Some("messages"))
    );
    let e = error_of(
        &server.post(
            path,
            r#"{"model": "base", "messages": [], "max_tokens": "5"}"#,
            None,
        ),
        400,
    );
    assert_eq!(e["param"], "max_tokens");
    let e = error_of(
        &server.post(
            path,
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            None,
        ),
        400,
    );
    assert!(e["message"].as_str().unwrap().contains("model"), "{e}");
    still_serves(&server);

    let e = error_of(&server.post_json(path, &chat("no-such-model")), 404);
    assert_eq!(
        (e["code"].as_str(), e["param"].as_str()),
        (Some("model_not_found"), Some("model"))
    );
    assert!(
        e["message"].as_str().unwrap().contains("`base`"),
        "names the served models: {e}"
    );

    // The bundled model's context is 1024 tokens.
    let mut too_many = chat("base");
    too_many["max_tokens"] = json!(5000);
    let e = error_of(&server.post_json(path, &too_many), 400);
    assert_eq!(
        (e["code"].as_str(), e["param"].as_str()),
        (Some("context_length_exceeded"), Some("max_tokens"))
    );
    assert!(e["message"].as_str().unwrap().contains("1024"), "{e}");
    let long_prompt = json!({"model": "base", "prompt": vec![5u32; 1100], "max_tokens": 1});
    let e = error_of(&server.post_json("/v1/completions", &long_prompt), 400);
    assert_eq!(
        (e["code"].as_str(), e["param"].as_str()),
        (Some("context_length_exceeded"), Some("prompt"))
    );
    still_serves(&server);

    let mut bad_top_p = chat("base");
    bad_top_p["top_p"] = json!(1.5);
    let e = error_of(&server.post_json(path, &bad_top_p), 400);
    assert_eq!(e["param"], "top_p");
    let mut zero = chat("base");
    zero["max_tokens"] = json!(0);
    error_of(&server.post_json(path, &zero), 400);
    let e = error_of(&server.post_json("/v1/completions", &chat("base")), 400);
    assert_eq!(e["param"], "messages", "{e}");

    let big = format!(r#"{{"model": "base", "prompt": "{}"}}"#, "x".repeat(5000));
    let e = error_of(&server.post("/v1/completions", &big, None), 413);
    assert_eq!(e["code"], "request_too_large");

    error_of(&server.get("/v1/nothing-here", None), 404);
    error_of(&server.get("/v1/chat/completions", None), 405);
    still_serves(&server);
}

#[test]
fn requests_without_a_valid_key_get_401_and_probes_need_none() {
    let server = start("api_keys = [\"sk-user\"]\nadmin_keys = [\"sk-admin\"]");
    let body = chat("base").to_string();
    let e = error_of(&server.post("/v1/chat/completions", &body, None), 401);
    assert_eq!(e["code"], "invalid_api_key");
    error_of(
        &server.post("/v1/chat/completions", &body, Some("sk-wrong")),
        401,
    );
    error_of(&server.get("/v1/models", None), 401);
    assert_eq!(
        server
            .post("/v1/chat/completions", &body, Some("sk-user"))
            .status,
        200
    );
    assert_eq!(
        server
            .post("/v1/chat/completions", &body, Some("sk-admin"))
            .status,
        200
    );
    assert_eq!(server.get("/v1/models", Some("sk-user")).status, 200);
    assert_eq!(server.get("/health", None).status, 200);
    assert_eq!(server.get("/ready", None).status, 200);
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_the_queued_request_completes() {
    // One batch slot and one queue place: A runs, B waits, C is refused.
    let server = start("max_batch = 1\nmax_queue = 1");
    let long =
        json!({"model": "base", "prompt": "The Corvid WX-4", "ignore_eos": true, "stream": true});
    let mut a = server.open_stream("/v1/completions", &long);
    next_data(&mut a).unwrap();

    let url = server.url.clone();
    let b = std::thread::spawn(move || {
        TestServer { url }.post_json("/v1/chat/completions", &chat("base"))
    });
    let start = Instant::now();
    while server.ready()["queued"] != 1 {
        assert!(start.elapsed() < Duration::from_secs(30), "B never queued");
        std::thread::sleep(Duration::from_millis(5));
    }
    let c = server.post_json("/v1/chat/completions", &chat("base"));
    assert_eq!(c.header("retry-after"), Some("1"));
    assert_eq!(error_of(&c, 429)["code"], "queue_full");

    // A's client leaves; B gets the slot.
    drop(a);
    let b = b.join().unwrap();
    assert_eq!(b.status, 200, "{}", b.body);
    still_serves(&server);
}

#[test]
fn a_new_request_joins_the_running_batch_and_finishes_before_a_long_one() {
    let server = start("max_batch = 2");
    let long =
        json!({"model": "base", "prompt": "The Corvid WX-4", "ignore_eos": true, "stream": true});
    let mut a = server.open_stream("/v1/completions", &long);
    next_data(&mut a).unwrap();
    // B is admitted between A's decode steps and done while A still runs.
    still_serves(&server);
    assert_eq!(
        server.ready()["active"],
        1,
        "the long request is still running"
    );
    let chunk: Value = serde_json::from_str(&next_data(&mut a).unwrap()).unwrap();
    assert!(chunk["choices"][0]["finish_reason"].is_null(), "{chunk}");
}

#[test]
fn a_streaming_client_that_disconnects_frees_its_slot() {
    let server = start("max_batch = 1");
    let before = server.ready()["cancelled"].as_u64().unwrap();
    // As long a generation as the context allows, so it is still running when the client leaves.
    let body =
        json!({"model": "base", "prompt": "The Corvid WX-4", "ignore_eos": true, "stream": true});
    let mut reader = server.open_stream("/v1/completions", &body);
    let first: Value = serde_json::from_str(&next_data(&mut reader).unwrap()).unwrap();
    assert_eq!(first["object"], "text_completion");
    drop(reader);

    let start = Instant::now();
    loop {
        let ready = server.ready();
        if ready["cancelled"].as_u64().unwrap() > before && ready["active"] == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the engine never dropped the sequence: {ready}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // With the only slot free again, a new request is served.
    still_serves(&server);
}

#[test]
fn a_request_over_the_timeout_gets_504_and_its_sequence_is_dropped() {
    let server = start("request_timeout_secs = 0.2");
    // About a thousand tokens: seconds on the bundled model, far over the timeout.
    let long = json!({"model": "base", "prompt": "The Corvid WX-4", "ignore_eos": true});
    let e = error_of(&server.post_json("/v1/completions", &long), 504);
    assert_eq!(e["code"], "timeout");

    let mut streamed = long.clone();
    streamed["stream"] = json!(true);
    let reply = server.post_json("/v1/completions", &streamed);
    assert_eq!(
        reply.status, 200,
        "a stream has started before it times out"
    );
    let data = reply.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let error: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "timeout", "{error}");

    let start = Instant::now();
    while server.ready()["active"] != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed-out sequences keep running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.ready()["cancelled"].as_u64().unwrap() >= 2);
}

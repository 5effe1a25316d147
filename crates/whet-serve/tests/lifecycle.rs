//! The server's description and lifecycle: `/openapi.json` describes every route and the server
//! answers each one; a shutdown signal stops new connections while the requests in flight,
//! streamed or not, finish whole.

#![allow(clippy::unwrap_used)]

mod test_server;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_server::{next_data, start, start_with_shutdown, TestServer};
use whet_serve::openapi::ROUTES;

#[test]
fn openapi_describes_every_route_and_the_server_answers_each() {
    let server = start("");
    let doc = server.get("/openapi.json", None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths[*path].get(*method).is_some(),
            "{method} {path} undocumented"
        );
        let concrete = path
            .replace("{model}", "base")
            .replace("{route}", "no-such-route")
            .replace("{name}", "no-such-adapter");
        let reply = match *method {
            "get" => server.get(&concrete, None),
            "post" => server.post(&concrete, "{}", None),
            "put" => server.put(&concrete, "{}", None),
            "delete" => server.delete(&concrete, None),
            other => panic!("{other}"),
        };
        // A served route answers for itself: anything but "no such route" or "wrong method".
        if reply.status == 404 || reply.status == 405 {
            let code = reply.json()["error"]["code"].clone();
            assert!(
                code != "unknown_url" && code != "method_not_allowed",
                "{method} {path}: {}",
                reply.body
            );
        }
    }
}

#[test]
fn after_the_shutdown_signal_requests_in_flight_finish_and_new_connections_are_refused() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (server, handle) = start_with_shutdown("max_batch = 2", async move {
        let _ = stopped.await;
    });
    let tokens = 600;
    let body = json!({"model": "base", "prompt": "The Corvid", "max_tokens": tokens,
                      "ignore_eos": true, "temperature": 0});
    let url = server.url.clone();
    let plain = std::thread::spawn(move || TestServer { url }.post_json("/v1/completions", &body));
    let mut streamed = body_with_stream(tokens);
    streamed["stream_options"] = json!({"include_usage": true});
    let mut reader = server.open_stream("/v1/completions", &streamed);
    let first = next_data(&mut reader).unwrap();
    assert!(first.starts_with('{'), "{first}");
    // Both generations run before the signal.
    let waited = Instant::now();
    while server.ready()["active"] != 2 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "{}",
            server.ready()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.send(()).unwrap();

    // New connections are refused once the listener closes (within a few seconds).
    let waited = Instant::now();
    loop {
        let r = ureq::get(&format!("{}/health", server.url))
            .timeout(Duration::from_secs(2))
            .call();
        if matches!(r, Err(ureq::Error::Transport(_))) {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "still accepting after the signal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The signal came while both were generating (otherwise this test shows nothing).
    assert!(
        !plain.is_finished(),
        "the generation ended before the listener closed; raise `tokens`"
    );

    // The stream runs to its end: every token, the usage chunk and [DONE].
    let mut text = String::new();
    let mut usage = Value::Null;
    let mut done = false;
    while let Some(data) = next_data(&mut reader) {
        if data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(&data).unwrap();
        if let Some(t) = chunk["choices"][0]["text"].as_str() {
            text.push_str(t);
        }
        if !chunk["usage"].is_null() {
            usage = chunk["usage"].clone();
        }
    }
    assert!(done, "the stream ended without [DONE]");
    assert_eq!(usage["completion_tokens"], tokens);
    assert!(!text.is_empty());
    // The plain request too.
    let reply = plain.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["usage"]["completion_tokens"], tokens);
    // And the server's run returns without error.
    handle.join().unwrap().unwrap();
}

fn body_with_stream(tokens: usize) -> Value {
    json!({"model": "base", "prompt": "The Corvid", "max_tokens": tokens, "ignore_eos": true,
           "temperature": 0, "stream": true})
}

//! Adapters added, replaced and removed while the server runs (`POST /v1/adapters`, `DELETE
//! /v1/adapters/{name}`): under load from concurrent streams on the base model, no request
//! fails, a request keeps the adapter version it started with, `/v1/models` follows every
//! change; paths are confined to `adapter_dirs`; only admin keys may change adapters; a route's
//! variant cannot be removed.

#![allow(clippy::unwrap_used)]

mod test_server;

use std::path::Path;

use serde_json::{json, Value};
use test_server::{adapter_dir, next_data, start, write_adapter, Reply, TestServer};

const VERSION: &str = "x-whet-adapter-version";

fn add(server: &TestServer, name: &str, path: &Path) -> Reply {
    server.post(
        "/v1/adapters",
        &json!({"name": name, "path": path.display().to_string()}).to_string(),
        None,
    )
}

fn listed_version(server: &TestServer, name: &str) -> Option<String> {
    let models = server.get("/v1/models", None).json();
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == name)
        .map(|m| m["version"].as_str().unwrap_or_default().to_string())
}

fn completion(model: &str, tokens: usize) -> Value {
    json!({"model": model, "prompt": "The Corvid WX-4", "max_tokens": tokens, "temperature": 0, "ignore_eos": true})
}

/// Reads a stream to its end: its text, and whether it ended cleanly (no error, `[DONE]`).
fn drain(reader: &mut impl std::io::BufRead) -> (String, bool) {
    let mut text = String::new();
    while let Some(data) = next_data(reader) {
        if data == "[DONE]" {
            return (text, true);
        }
        let chunk: Value = serde_json::from_str(&data).unwrap();
        if chunk.get("error").is_some() {
            return (text, false);
        }
        text.push_str(chunk["choices"][0]["text"].as_str().unwrap_or_default());
    }
    (text, false)
}

#[test]
fn adapters_added_replaced_and_removed_under_load_fail_no_request() {
    let root = tempfile::tempdir().unwrap();
    let (v1, v2) = (root.path().join("hot-v1"), root.path().join("hot-v2"));
    write_adapter(&v1, 1);
    write_adapter(&v2, 2);
    let server = start(&format!(
        "adapter_dirs = [{:?}]\nmax_batch = 8\n[routes.bot]\nbase = 1\n",
        root.path().display().to_string()
    ));

    // Load: streams on the base model running through every change below.
    let load: Vec<_> = (0..3)
        .map(|_| {
            let url = server.url.clone();
            std::thread::spawn(move || {
                let server = TestServer { url };
                let mut body = completion("base", 600);
                body["stream"] = json!(true);
                let (headers, mut reader) =
                    server.open_stream_with_headers("/v1/completions", &body);
                assert!(!headers.iter().any(|(n, _)| n == VERSION));
                drain(&mut reader)
            })
        })
        .collect();

    // Added: served, listed, answering with its version.
    let reply = add(&server, "hot", &v1);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let version1 = reply.json()["version"].as_str().unwrap().to_string();
    assert_eq!(reply.json()["replaced"], Value::Null);
    assert_eq!(
        listed_version(&server, "hot").as_deref(),
        Some(version1.as_str())
    );
    let before = server.post_json("/v1/completions", &completion("hot", 60));
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.header(VERSION), Some(version1.as_str()));
    let text1 = before.json()["choices"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();

    // A stream started on version 1 ...
    let mut body = completion("hot", 60);
    body["stream"] = json!(true);
    let (headers, mut on_v1) = server.open_stream_with_headers("/v1/completions", &body);
    let started = headers
        .iter()
        .find(|(n, _)| n == VERSION)
        .unwrap()
        .1
        .clone();
    assert_eq!(started, version1);
    let first: Value = serde_json::from_str(&next_data(&mut on_v1).unwrap()).unwrap();
    let first = first["choices"][0]["text"].as_str().unwrap().to_string();

    // ... while the adapter is replaced: the version changes for new requests.
    let reply = add(&server, "hot", &v2);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let version2 = reply.json()["version"].as_str().unwrap().to_string();
    assert_ne!(version2, version1);
    assert_eq!(reply.json()["replaced"], json!(version1));
    assert_eq!(
        listed_version(&server, "hot").as_deref(),
        Some(version2.as_str())
    );
    let after = server.post_json("/v1/completions", &completion("hot", 60));
    assert_eq!(after.header(VERSION), Some(version2.as_str()));
    let text2 = after.json()["choices"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        text2, text1,
        "the two versions must differ for this test to mean anything"
    );

    // The stream that started on version 1 ends with version 1's text.
    let (rest, clean) = drain(&mut on_v1);
    assert!(clean);
    assert_eq!(first + &rest, text1);

    // A route's variant cannot be removed; once out of the route it can.
    let reply = server.put(
        "/v1/routes/bot",
        r#"{"weights": {"base": 1, "hot": 1}}"#,
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = server.delete("/v1/adapters/hot", None);
    assert_eq!(reply.status, 409, "{}", reply.body);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "adapter_in_use");
    assert!(
        error["message"].as_str().unwrap().contains("`bot`"),
        "{error}"
    );
    let reply = server.put("/v1/routes/bot", r#"{"weights": {"base": 1}}"#, None);
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Removed while a request on it runs: that request finishes; new ones get 404.
    let (_, mut last) = server.open_stream_with_headers("/v1/completions", &body);
    assert!(next_data(&mut last).is_some());
    let reply = server.delete("/v1/adapters/hot", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["version"], json!(version2));
    assert!(drain(&mut last).1);
    // Everything above happened under load: the base-model streams are still running.
    assert!(
        load.iter().any(|h| !h.is_finished()),
        "the load ended too early to mean anything"
    );
    assert_eq!(listed_version(&server, "hot"), None);
    let gone = server.post_json("/v1/completions", &completion("hot", 4));
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert_eq!(server.delete("/v1/adapters/hot", None).status, 404);
    // A route cannot name it any more either.
    let reply = server.put("/v1/routes/bot", r#"{"weights": {"hot": 1}}"#, None);
    assert_eq!(reply.status, 400, "{}", reply.body);

    for handle in load {
        let (text, clean) = handle.join().unwrap();
        assert!(
            clean && !text.is_empty(),
            "a base-model stream failed: {text:?}"
        );
    }
}

#[test]
fn adapter_paths_are_confined_and_names_checked() {
    let root = tempfile::tempdir().unwrap();
    let inside = root.path().join("ok");
    write_adapter(&inside, 3);
    std::fs::create_dir_all(root.path().join("empty")).unwrap();
    let server = start(&format!(
        "adapter_dirs = [{:?}]\n",
        root.path().display().to_string()
    ));
    let code = |r: &Reply| r.json()["error"]["code"].as_str().unwrap().to_string();

    // Outside adapter_dirs (the shared test adapter lives elsewhere): 403.
    let reply = add(&server, "x", adapter_dir());
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(code(&reply), "adapter_path_not_allowed");
    assert!(reply.body.contains("adapter_dirs"), "{}", reply.body);
    // `..` escaping: 400 naming it.
    let reply = add(&server, "x", &root.path().join("ok/../../elsewhere"));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains(".."), "{}", reply.body);
    // Not an adapter: 400; missing: 400.
    let reply = add(&server, "x", &root.path().join("empty"));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.json()["error"]["param"], "path");
    assert_eq!(add(&server, "x", &root.path().join("missing")).status, 400);
    // The base model's name, a bad name, an unknown field.
    assert_eq!(add(&server, "base", &inside).status, 409);
    assert_eq!(add(&server, "two words", &inside).status, 400);
    let reply = server.post("/v1/adapters", r#"{"name": "x", "paht": "ok"}"#, None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    // A relative path is relative to the first adapter_dirs entry.
    let reply = add(&server, "rel", Path::new("ok"));
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        server
            .post_json("/v1/completions", &completion("rel", 3))
            .status,
        200
    );
    // The base model cannot be removed.
    assert_eq!(server.delete("/v1/adapters/base", None).status, 400);
}

#[test]
fn only_admin_keys_change_adapters() {
    let root = tempfile::tempdir().unwrap();
    write_adapter(&root.path().join("a"), 4);
    let server = start(&format!(
        "adapter_dirs = [{:?}]\napi_keys = [\"sk-user\"]\nadmin_keys = [\"sk-admin\"]\n",
        root.path().display().to_string()
    ));
    let body =
        json!({"name": "a", "path": root.path().join("a").display().to_string()}).to_string();
    assert_eq!(server.post("/v1/adapters", &body, None).status, 401);
    assert_eq!(
        server.post("/v1/adapters", &body, Some("sk-user")).status,
        403
    );
    assert_eq!(
        server.post("/v1/adapters", &body, Some("sk-admin")).status,
        201
    );
    assert_eq!(server.delete("/v1/adapters/a", None).status, 401);
    assert_eq!(server.delete("/v1/adapters/a", Some("sk-user")).status, 403);
    assert_eq!(
        server.delete("/v1/adapters/a", Some("sk-admin")).status,
        200
    );
}

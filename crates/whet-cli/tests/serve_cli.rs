//! `whet serve CONFIG` end to end: the example config starts a server that answers like
//! `whet generate`, and a bad config fails with the key named. (The API itself is tested in
//! `crates/whet-serve/tests`.)

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use common::{root, s, whet};
use serde_json::{json, Value};

/// A plain HTTP/1.1 exchange (no client crate needed): status and body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Kills the server when the test ends, passing or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn whet_serve_runs_the_example_config_and_answers_like_whet_generate() {
    let config = root().join("configs/serve.toml");
    let mut child = Server(
        Command::new(env!("CARGO_BIN_EXE_whet"))
            .args(["serve", s(&config), "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "whet serve: listening on http://127.0.0.1:PORT (models: base-model); Ctrl-C stops"
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let (status, body) = http(&addr, "GET", "/health", "");
    assert_eq!(status, 200, "{body}");
    let prompt = "The Corvid WX-4";
    let request = json!({"model": "base-model", "prompt": prompt, "max_tokens": 20, "temperature": 0});
    let (status, body) = http(&addr, "POST", "/v1/completions", &request.to_string());
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();

    let model = root().join("assets/base-model");
    let out = whet(&["generate", "--model", s(&model), "--prompt", prompt, "--max-new-tokens", "20", "--temperature", "0", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(served["choices"][0]["text"], generated["text"]);
    assert_eq!(served["usage"]["completion_tokens"], generated["token_ids"].as_array().unwrap().len());
}

#[test]
fn whet_serve_refuses_a_config_with_an_unknown_key_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, format!("model = {:?}\nmax_batchh = 4\n", s(&root().join("assets/base-model")))).unwrap();
    let out = whet(&["serve", s(&config)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2") && stderr.contains("max_batchh") && stderr.contains("did you mean `max_batch`?"), "{stderr}");
}

#[test]
fn whet_serve_log_json_writes_one_json_line_per_request_and_serves_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, format!("model = {:?}\nmodel_name = \"base\"\n", s(&root().join("assets/base-model")))).unwrap();
    let mut child = Server(
        Command::new(env!("CARGO_BIN_EXE_whet"))
            .args(["serve", s(&config), "--listen", "127.0.0.1:0", "--log-json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    let request = json!({"model": "base", "prompt": "The Corvid", "max_tokens": 3, "user": "u7"});
    let (status, body) = http(&addr, "POST", "/v1/completions", &request.to_string());
    assert_eq!(status, 200, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let (status, metrics) = http(&addr, "GET", "/metrics", "");
    assert_eq!(status, 200);
    assert!(metrics.contains("whet_requests_total{"), "{metrics}");
    // The feedback database defaults to feedback.sqlite beside the config.
    assert!(dir.path().join("feedback.sqlite").is_file());

    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        log.clear();
        assert!(stderr.read_line(&mut log).unwrap() > 0, "no request log line");
        let Ok(entry) = serde_json::from_str::<Value>(&log) else { continue };
        if entry["target"] == "whet::request" {
            let fields = &entry["fields"];
            assert_eq!(fields["id"], id.as_str(), "{log}");
            assert_eq!((fields["variant"].as_str(), fields["status"].as_u64()), (Some("base"), Some(200)), "{log}");
            assert!(fields["duration_ms"].is_u64() && fields["prompt_tokens"].as_u64().unwrap() > 0, "{log}");
            break;
        }
    }
}

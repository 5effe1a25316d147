//! Helpers the `whet` end-to-end tests share: paths to the goldens, running the binary, and
//! writing a golden's texts and chats as a JSONL dataset.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn golden_model(name: &str) -> PathBuf {
    root().join("tests/golden/models").join(name)
}

pub fn whet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whet")).args(args).output().unwrap()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes the `texts` (as `{"text"}`) and `chats` (as `{"messages"}`) of a golden.json to
/// `dir/data.jsonl`; returns the path and the golden entries in file order.
pub fn golden_data_file(dir: &Path, golden: &Value) -> (PathBuf, Vec<Value>) {
    let mut lines = String::new();
    let mut expected = Vec::new();
    for t in golden["texts"].as_array().unwrap() {
        lines.push_str(&serde_json::json!({"text": t["text"]}).to_string());
        lines.push('\n');
        expected.push(t.clone());
    }
    for c in golden["chats"].as_array().into_iter().flatten() {
        lines.push_str(&serde_json::json!({"messages": c["messages"]}).to_string());
        lines.push('\n');
        expected.push(c.clone());
    }
    let path = dir.join("data.jsonl");
    std::fs::write(&path, lines).unwrap();
    (path, expected)
}

/// A stand-in for an OpenAI-compatible server on a loopback port: each chat completion's content
/// is `reply(request)`; each request's body is kept.
pub fn mock_endpoint(reply: fn(&Value) -> String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut length) = (String::new(), 0usize);
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let request: Value = serde_json::from_slice(&body).unwrap();
            let content = reply(&request);
            log.lock().unwrap().push(request);
            let reply = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}).to_string();
            let response = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len());
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (url, seen)
}

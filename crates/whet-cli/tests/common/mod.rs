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

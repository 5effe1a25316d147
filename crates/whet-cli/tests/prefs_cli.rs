//! `whet data prefs` end to end on the golden tiny llama: a base with a PEFT adapter as the
//! stronger model, the bare base as the weaker one. The answers are noise (random weights), so
//! the test checks the contract: every prompt ends up as a pair or a counted skip, pairs are in
//! TRL's conversational layout with provenance, and bad inputs are refused by file and line.

mod common;

use common::{golden_model, root, s, whet};
use serde_json::Value;

fn prompts(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("prompts.jsonl");
    let lines = [
        r#"{"messages": [{"role": "user", "content": "What colour is the sky?"}, {"role": "assistant", "content": "Blue."}]}"#,
        r#"{"messages": [{"role": "user", "content": "Name a fruit."}]}"#,
        r#"{"messages": [{"role": "user", "content": "Count to three."}, {"role": "assistant", "content": "One, two, three."}]}"#,
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn pairs_from_a_stronger_and_a_weaker_model() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (prompts(dir.path()), dir.path().join("pairs.jsonl"));
    let adapter = root().join("tests/golden/adapters/llama_lora_r4");
    let run = whet(&[
        "data", "prefs", "--prompts", s(&input), "--strong", s(&golden_model("llama")), "--strong-adapter", s(&adapter),
        "--out", s(&out), "--max-new-tokens", "8",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let pairs: Vec<Value> = std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let skipped: usize = stdout.split("skipped: ").nth(1).map_or(0, |t| t.split(' ').next().unwrap().parse().unwrap());
    assert_eq!(pairs.len() + skipped, 3, "{stdout}");
    for p in &pairs {
        assert_eq!(p["prompt"].as_array().unwrap().last().unwrap()["role"], "user");
        assert_ne!(p["chosen"][0]["content"], p["rejected"][0]["content"]);
        assert!(p["provenance"]["chosen_by"].as_str().unwrap().contains("adapter"));
        assert!(p["provenance"]["source"].as_str().unwrap().starts_with(s(&input)));
    }
    // Nothing is overwritten.
    let again = whet(&["data", "prefs", "--prompts", s(&input), "--strong", s(&golden_model("llama")), "--out", s(&out)]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn bad_prompt_files_are_refused_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}\n{\"text\": \"no messages\"}\n").unwrap();
    let out = dir.path().join("pairs.jsonl");
    let run = whet(&["data", "prefs", "--prompts", s(&bad), "--strong", s(&golden_model("llama")), "--out", s(&out)]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("bad.jsonl:2") && stderr.contains("messages"), "{stderr}");
    assert!(!out.exists());

    let no_refs = dir.path().join("no_refs.jsonl");
    std::fs::write(&no_refs, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}\n").unwrap();
    let run = whet(&["data", "prefs", "--prompts", s(&no_refs), "--strong", s(&golden_model("llama")), "--judge", "reference", "--out", s(&out)]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("needs records that end with an assistant answer"));
}

//! End-to-end: the `whet data` commands on the bundled sample config and on bad input, checking
//! exit codes, files and messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn whet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("runs whet")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The sample config with absolute paths, writing to `dir/out`.
fn sample_config(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("configs/prep.toml")).expect("sample config");
    let root = repo().canonicalize().expect("repo path");
    let text = text
        .replace("../assets/", &format!("{}/assets/", root.display()))
        .replace("out_dir = \"../runs/prep-sample\"", &format!("out_dir = {:?}", dir.join("out")));
    let path = dir.join("prep.toml");
    std::fs::write(&path, edit(text)).expect("write config");
    path
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn data_prep_on_the_sample_config_writes_splits_report_and_card() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sample_config(dir.path(), |t| t);
    let out = whet(&["data", "prep", cfg.to_str().expect("utf8")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    assert!(stdout.contains("input 27 = kept 15 + dropped 12"), "{stdout}");
    for f in [
        "train.jsonl",
        "valid.jsonl",
        "test.jsonl",
        "rejects.jsonl",
        "report.json",
        "report.md",
        "dataset_card.md",
        "run.json",
        "flags.jsonl",
    ] {
        assert!(dir.path().join("out").join(f).exists(), "{f} missing");
    }
}

#[test]
fn sharded_prep_and_merge_match_a_single_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sample_config(dir.path(), |t| t);
    let c = cfg.to_str().expect("utf8");
    assert!(whet(&["data", "prep", c]).status.success());
    let single = std::fs::read_to_string(dir.path().join("out/train.jsonl")).expect("train");
    std::fs::remove_file(dir.path().join("out/train.jsonl")).expect("rm");
    for s in ["0/2", "1/2"] {
        let o = whet(&["data", "prep", c, "--shard", s, "--threads", "1"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = whet(&["data", "merge", c, "--shards", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(single, std::fs::read_to_string(dir.path().join("out/train.jsonl")).expect("train"));
}

#[test]
fn unknown_config_key_fails_with_line_and_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sample_config(dir.path(), |t| t.replace("threshold = 0.7", "treshold = 0.7"));
    let out = whet(&["data", "prep", cfg.to_str().expect("utf8")]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("`treshold`: unknown key; did you mean `threshold`?") && err.contains("line "), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing is written before the config is valid");
}

#[test]
fn malformed_line_with_on_error_fail_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sample_config(dir.path(), |t| t.replace("on_error = \"skip\"", "on_error = \"fail\""));
    let out = whet(&["data", "prep", cfg.to_str().expect("utf8")]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("sample_chats.jsonl:23: invalid JSON"), "{err}");
    assert!(!dir.path().join("out/train.jsonl").exists(), "a failed run publishes no splits");
}

#[test]
fn inspect_profiles_a_file_without_writing() {
    let sample = repo().join("assets/prep/sample_chats.jsonl");
    let out = whet(&["data", "inspect", sample.to_str().expect("utf8"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json profile");
    assert_eq!(v["records"], 22);
    assert_eq!(v["malformed_count"], 1);
    assert_eq!(v["pii"]["credit_card"], 1);
}

#[test]
fn prep_without_a_config_runs_default_steps_on_the_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = repo().join("assets/prep/sample_chats.jsonl");
    let out = dir.path().join("out");
    let o = whet(&["data", "prep", "--input", sample.to_str().expect("utf8"), "--out", out.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report")).expect("json");
    assert_eq!(report["identity"]["holds"], true);
    assert_eq!(report["stats"]["pii_redacted"]["email"], 1);
}

#[test]
fn bad_shard_argument_is_refused() {
    let out = whet(&["data", "prep", "configs/prep.toml", "--shard", "2/2"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("expected I/N"), "{}", stderr(&out));
}

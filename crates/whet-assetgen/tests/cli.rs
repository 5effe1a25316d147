//! The binary end to end: outputs written, the same bytes twice, nothing overwritten, bad
//! arguments refused with the usage.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whet-assetgen"))
        .args(args)
        .output()
        .expect("running whet-assetgen")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whet-assetgen-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

#[test]
fn corpus_is_reproducible_and_never_overwritten() {
    let dir = scratch("corpus");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    for path in [&a, &b] {
        let out =
            run(&["corpus", "--out", path.to_str().unwrap(), "--documents", "200", "--seed", "9"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap());
    assert_eq!(bytes.iter().filter(|&&c| c == b'\n').count(), 200);
    let again = run(&["corpus", "--out", a.to_str().unwrap(), "--documents", "10"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("not empty") && err.contains("usage:"), "{err}");
    assert_eq!(std::fs::read(&a).unwrap(), bytes);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn domain_writes_three_files() {
    let dir = scratch("domain");
    let out_dir = dir.join("set");
    let out = run(&["domain", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (name, lines) in [("train.jsonl", 350), ("valid.jsonl", 70), ("test.jsonl", 70)] {
        let text = std::fs::read_to_string(out_dir.join(name)).unwrap();
        assert_eq!(text.lines().count(), lines, "{name}");
    }
    let again = run(&["domain", "--out", out_dir.to_str().unwrap()]);
    assert!(!again.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_print_the_usage() {
    for args in [&["corpus", "--out", "x", "--verbose"][..], &["domain"][..], &["frobnicate"][..]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: ") && err.contains("usage: whet-assetgen corpus"), "{err}");
    }
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("whet-assetgen domain --out DIR"));
}

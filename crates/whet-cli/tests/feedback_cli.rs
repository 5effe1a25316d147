//! `whet feedback export` end to end: a feedback database as `whet serve` writes it (through
//! whet-serve's store, without a model) becomes an SFT file that the SFT recipe's loader reads, a
//! preference file that the DPO recipe's reader reads, and per-variant win rates with Wilson
//! intervals; bad inputs are refused with the file named.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{root, s, whet};
use serde_json::{json, Value};
use whet_serve::feedback_store::{FeedbackOutcome, FeedbackRecord, FeedbackStore, ResponseRecord};

fn response(id: &str, variant: &str, question: &str, answer: &str) -> ResponseRecord {
    ResponseRecord {
        id: id.into(),
        created: 1_700_000_000.0,
        endpoint: "chat",
        route: Some("support-bot".into()),
        variant: variant.into(),
        adapter_version: (variant != "base-model").then(|| "0123456789ab".into()),
        user: Some(format!("user-{id}")),
        prompt: json!([{"role": "user", "content": question}]).to_string(),
        response: answer.into(),
        finish_reason: Some("stop".into()),
        choices: None,
        prompt_tokens: 10,
        completion_tokens: 5,
        guardrails: None,
    }
}

/// Six rated answers to two questions from two variants, one unrated.
fn make_db(path: &Path) {
    let store = FeedbackStore::open(path, None).unwrap();
    let q1 = "What is the warranty period of the Corvid WX-4?";
    let q2 = "Can I set the time manually?";
    let rows = [
        ("r1", "sft", q1, "Two years from purchase.", Some(5), None),
        (
            "r2",
            "base-model",
            q1,
            "The WX-4 is a weather station.",
            Some(2),
            None,
        ),
        (
            "r3",
            "sft",
            q2,
            "Yes: hold SET for three seconds.",
            None,
            Some(true),
        ),
        (
            "r4",
            "base-model",
            q2,
            "Time is a measure.",
            None,
            Some(false),
        ),
        ("r5", "sft", q1, "Two years.", Some(4), None),
        (
            "r6",
            "base-model",
            q2,
            "Yes, in the settings menu.",
            Some(4),
            None,
        ),
        ("r7", "sft", q2, "Unrated answer.", None, None),
    ];
    for (id, variant, q, a, rating, preferred) in rows {
        store.record(response(id, variant, q, a));
        if rating.is_some() || preferred.is_some() {
            let outcome = store.feedback_blocking(FeedbackRecord {
                response_id: id.into(),
                rating,
                preferred,
                comment: None,
            });
            assert!(
                matches!(outcome, FeedbackOutcome::Stored { .. }),
                "{outcome:?}"
            );
        }
    }
}

#[test]
fn feedback_export_writes_files_the_training_recipes_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("feedback.sqlite");
    make_db(&db);
    let out = dir.path().join("export");
    let run = whet(&["feedback", "export", "--db", s(&db), "--out", s(&out)]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("4 SFT examples, 2 preference pairs"),
        "{stdout}"
    );

    // SFT: r1 (5), r5 (4) and r6 (4) are good chats; r3 is preferred but unrated: good too.
    let tok = whet_data::ModelTokenizer::load(&root().join("assets/base-model")).unwrap();
    let data: whet_train::config::DataConfig =
        serde_json::from_value(json!({"train": out.join("sft.jsonl")})).unwrap();
    let (examples, stats) = whet_train::dataset::load_examples(
        &out.join("sft.jsonl"),
        whet_train::config::Method::Sft,
        &data,
        &tok,
    )
    .unwrap();
    assert_eq!(stats.records, 4);
    assert!(examples.iter().all(|e| e.num_targets() > 0));

    // Pairs: q1: r1 (5) vs r2 (2); r5 (4) has no worse partner left. q2: r3 (good) and r6 (4,
    // good) against r4 (bad): r6 ranks first (rated 4), paired with r4; r3 has none left.
    // (r7 has no feedback and takes no part.)
    let pairs = whet_data::read_pairs(
        &out.join("preferences.jsonl"),
        whet_data::formats::Format::Auto,
    )
    .unwrap();
    let summary: Vec<(String, String)> = pairs
        .iter()
        .map(|(_, p)| {
            (
                p.chosen()[0].content.clone(),
                p.rejected()[0].content.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "Two years from purchase.".to_string(),
                "The WX-4 is a weather station.".to_string()
            ),
            (
                "Yes, in the settings menu.".to_string(),
                "Time is a measure.".to_string()
            ),
        ]
    );

    let variants: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("variants.json")).unwrap()).unwrap();
    let row = |name: &str| {
        variants["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["variant"] == name)
            .unwrap()
            .clone()
    };
    let sft = row("sft");
    assert_eq!(
        (
            sft["responses"].as_u64(),
            sft["with_feedback"].as_u64(),
            sft["wins"].as_u64()
        ),
        (Some(4), Some(3), Some(3))
    );
    assert_eq!(sft["mean_rating"], 4.5);
    assert_eq!(sft["adapter_versions"], json!(["0123456789ab"]));
    let (lo, hi) = whet_eval::wilson_interval(3, 3, 1.959_963_984_540_054);
    let ci = sft["win_rate_95"].as_array().unwrap();
    assert!(
        (ci[0].as_f64().unwrap() - lo).abs() < 1e-12
            && (ci[1].as_f64().unwrap() - hi).abs() < 1e-12
    );
    let base = row("base-model");
    assert_eq!(
        (
            base["with_feedback"].as_u64(),
            base["wins"].as_u64(),
            base["win_rate"].as_f64()
        ),
        (Some(3), Some(1), Some(1.0 / 3.0))
    );
    // Head to head only counts pairs of different variants: r1 (sft) over r2 (base).
    assert_eq!(
        (base["pair_wins"].as_u64(), base["pair_losses"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        (sft["pair_wins"].as_u64(), sft["pair_losses"].as_u64()),
        (Some(1), Some(0))
    );

    // A second export into the same directory would overwrite: refused, naming the files.
    let again = whet(&["feedback", "export", "--db", s(&db), "--out", s(&out)]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("sft.jsonl") && err.contains("--out"), "{err}");
}

#[test]
fn feedback_export_refuses_a_missing_or_foreign_database_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.sqlite");
    let run = whet(&[
        "feedback",
        "export",
        "--db",
        s(&missing),
        "--out",
        s(&dir.path().join("o")),
    ]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("nope.sqlite") && err.contains("feedback_db"),
        "{err}"
    );

    let text = dir.path().join("notes.sqlite");
    std::fs::write(
        &text,
        "plain text, not a database at all, long enough to be read",
    )
    .unwrap();
    let run = whet(&[
        "feedback",
        "export",
        "--db",
        s(&text),
        "--out",
        s(&dir.path().join("o")),
    ]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("notes.sqlite"), "{err}");

    let run = whet(&[
        "feedback",
        "export",
        "--db",
        s(&text),
        "--out",
        "o",
        "--min-rating",
        "6",
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("min-rating"));
}

/// A plain HTTP/1.1 exchange with a JSON body: status and body.
fn http_json(addr: &std::net::SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn served_answers_rated_over_http_come_back_from_whet_feedback_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("feedback.sqlite");
    let text = format!(
        "model = {:?}\nmodel_name = \"base\"\nlisten = \"127.0.0.1:0\"\nfeedback_db = {:?}\n",
        s(&root().join("assets/base-model")),
        s(&db)
    );
    let config =
        whet_serve::ServeConfig::parse(&text, Path::new("serve.toml"), dir.path()).unwrap();
    let server = whet_serve::Server::new(&config).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.run(std::future::pending(), move |addr| tx.send(addr).unwrap())
    });
    let addr = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();

    // Two answers to one question: greedy, and sampled (a different text).
    let question = json!([{"role": "user", "content": "Please give me the warranty period of the Corvid WX-4."}]);
    let mut answers = Vec::new();
    for (temperature, seed) in [(0.0, 0), (1.5, 3)] {
        let (status, body) = http_json(
            &addr,
            "/v1/chat/completions",
            &json!({"model": "base", "messages": question, "max_tokens": 60, "temperature": temperature, "seed": seed}),
        );
        assert_eq!(status, 200, "{body}");
        answers.push((
            body["id"].as_str().unwrap().to_string(),
            body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string(),
        ));
    }
    assert_ne!(answers[0].1, answers[1].1, "the sampled answer must differ");
    for ((id, _), rating) in answers.iter().zip([5, 2]) {
        let (status, body) = http_json(&addr, "/v1/feedback", &json!({"id": id, "rating": rating}));
        assert_eq!(status, 200, "{body}");
    }

    let out = dir.path().join("export");
    let run = whet(&["feedback", "export", "--db", s(&db), "--out", s(&out)]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let pairs = whet_data::read_pairs(
        &out.join("preferences.jsonl"),
        whet_data::formats::Format::Auto,
    )
    .unwrap();
    assert_eq!(pairs.len(), 1);
    let pair = &pairs[0].1;
    assert_eq!(
        pair.prompt()[0].content,
        question[0]["content"].as_str().unwrap()
    );
    assert_eq!(
        (
            pair.chosen()[0].content.as_str(),
            pair.rejected()[0].content.as_str()
        ),
        (answers[0].1.as_str(), answers[1].1.as_str())
    );
    let sft = std::fs::read_to_string(out.join("sft.jsonl")).unwrap();
    let lines: Vec<Value> = sft
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The greedy answer is an SFT example if it ended on its own; the 2-rated one never is.
    assert!(lines.len() <= 1);
    for l in &lines {
        assert_eq!(l["messages"][1]["content"], answers[0].1.as_str());
        assert_eq!(l["feedback"]["response_id"], answers[0].0.as_str());
    }
    let variants: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("variants.json")).unwrap()).unwrap();
    let base = &variants["variants"][0];
    assert_eq!(
        (
            base["variant"].as_str(),
            base["responses"].as_u64(),
            base["wins"].as_u64()
        ),
        (Some("base"), Some(2), Some(1))
    );
    assert_eq!(base["mean_rating"], 3.5);
}

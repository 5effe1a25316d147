//! Feedback end to end: responses served through an A/B route are stored, `POST /v1/feedback`
//! rates them (bad input and unknown ids answered with OpenAI errors), and the export built from
//! the database is read back by whet-data's own readers (the SFT and DPO recipes' formats).

#![allow(clippy::unwrap_used)]

mod test_server;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use test_server::{chat_messages, start, TestServer, ADAPTER};
use whet_data::formats::{self, Format, Record};
use whet_data::records::{Payload, RowReader};
use whet_serve::feedback_export::{build_export, read_rated};

const QUESTION: &str = "Please give me the warranty period of the Corvid WX-4.";

fn write_jsonl(path: &Path, records: &[Value]) {
    let mut f = std::fs::File::create(path).unwrap();
    for r in records {
        writeln!(f, "{r}").unwrap();
    }
}

fn feedback(server: &TestServer, body: Value) -> test_server::Reply {
    server.post_json("/v1/feedback", &body)
}

#[test]
fn rated_answers_become_sft_examples_and_preference_pairs_that_whet_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db/feedback.sqlite");
    let server = start(&format!(
        "feedback_db = {:?}\n[routes.bot]\nbase = 1\n{ADAPTER} = 1",
        db.display().to_string()
    ));
    // Users until both variants have answered twice; greedy, so each variant's answer is fixed.
    let mut by_variant: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for i in 0..40 {
        let reply = server.post_json(
            "/v1/chat/completions",
            &json!({"model": "bot", "messages": chat_messages(QUESTION), "max_tokens": 60,
                    "temperature": 0, "user": format!("user-{i}")}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        assert_eq!(body["choices"][0]["finish_reason"], "stop", "{body}");
        let text = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
        let id = body["id"].as_str().unwrap().to_string();
        by_variant
            .entry(body["model"].as_str().unwrap().to_string())
            .or_default()
            .push((id, text));
        if by_variant.values().filter(|v| v.len() >= 2).count() == 2 {
            break;
        }
    }
    let (base, tuned) = (&by_variant["base"], &by_variant[ADAPTER]);
    assert_ne!(
        base[0].1, tuned[0].1,
        "the variants must answer differently"
    );

    // A streamed response is stored too, with the streamed text.
    let streamed = server.post_json(
        "/v1/chat/completions",
        &json!({"model": "base", "messages": chat_messages(QUESTION), "max_tokens": 60, "temperature": 0, "stream": true}),
    );
    let stream_id = streamed.header("x-request-id").unwrap().to_string();

    for (id, rating) in [(&base[0].0, 5), (&base[1].0, 4), (&tuned[0].0, 1)] {
        let reply = feedback(
            &server,
            json!({"id": id, "rating": rating, "comment": "from the test"}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["response_id"], id.as_str());
    }
    let reply = feedback(&server, json!({"id": tuned[1].0, "preferred": false}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = feedback(&server, json!({"id": stream_id, "preferred": true}));
    assert_eq!(reply.status, 200, "{}", reply.body);

    let (answers, served) = read_rated(&db).unwrap();
    assert_eq!(answers.len(), 5);
    let streamed_row = answers.iter().find(|a| a.id == stream_id).unwrap();
    assert_eq!(
        (
            streamed_row.route.as_deref(),
            streamed_row.response.as_str()
        ),
        (None, base[0].1.as_str())
    );
    let rated = answers.iter().find(|a| a.id == base[0].0).unwrap();
    assert_eq!(
        (rated.route.as_deref(), rated.variant.as_str(), rated.rating),
        (Some("bot"), "base", Some(5))
    );
    assert_eq!(rated.comment.as_deref(), Some("from the test"));
    assert_eq!(rated.prompt, chat_messages(QUESTION));
    let tuned_row = answers.iter().find(|a| a.id == tuned[0].0).unwrap();
    assert_eq!(
        tuned_row.adapter_version.as_ref().map(String::len),
        Some(12)
    );

    let export = build_export(&answers, &served, 4);
    // Good answers: base rated 5 and 4, and the preferred streamed one (all the same text).
    assert_eq!(export.sft.len(), 3);
    // One prompt; best first: 5, 4, preferred (good, unrated), then preferred=false and 1:
    // 5 vs 1 and 4 vs preferred=false (different texts), then preferred vs ... nothing left.
    assert_eq!(export.preferences.len(), 2, "{:?}", export.preferences);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_jsonl(&out.join("sft.jsonl"), &export.sft);
    write_jsonl(&out.join("preferences.jsonl"), &export.preferences);

    let pairs = whet_data::read_pairs(&out.join("preferences.jsonl"), Format::Auto).unwrap();
    assert_eq!(pairs.len(), 2);
    for (_, pair) in &pairs {
        assert_eq!(pair.prompt().last().unwrap().content, QUESTION);
        assert_eq!(pair.chosen()[0].content, base[0].1);
        assert_eq!(pair.rejected()[0].content, tuned[0].1);
    }
    let mut sft = 0;
    for row in RowReader::open(&out.join("sft.jsonl")).unwrap() {
        let Payload::Object(obj) = row.unwrap().payload else {
            panic!("malformed SFT line")
        };
        match formats::parse(Format::Auto, obj).unwrap().record {
            Record::Chat { messages } => {
                assert_eq!(messages.len(), 3);
                assert_eq!(messages[2].role, "assistant");
                assert_eq!(messages[2].content, base[0].1);
                sft += 1;
            }
            other => panic!("not a chat: {}", other.kind()),
        }
    }
    assert_eq!(sft, 3);

    let tally = |route: Option<&str>, variant: &str| {
        export
            .variants
            .iter()
            .find(|t| t.route.as_deref() == route && t.variant == variant)
            .unwrap()
            .clone()
    };
    let b = tally(Some("bot"), "base");
    assert_eq!((b.with_feedback, b.wins, b.mean_rating), (2, 2, Some(4.5)));
    assert_eq!((b.pair_wins, b.pair_losses), (2, 0));
    let t = tally(Some("bot"), ADAPTER);
    assert_eq!((t.with_feedback, t.wins, t.ratings), (2, 0, 1));
    assert_eq!((t.pair_wins, t.pair_losses), (0, 2));
    assert!(t.responses >= 2 && b.responses >= 2);
    assert_eq!(tally(None, "base").responses, 1);
}

#[test]
fn bad_feedback_gets_openai_errors_naming_the_field() {
    let server = start("");
    let reply = server.post_json(
        "/v1/completions",
        &json!({"model": "base", "prompt": "The Corvid", "max_tokens": 2}),
    );
    let id = reply.json()["id"].as_str().unwrap().to_string();
    for (body, status, code, param) in [
        (
            json!({"id": "cmpl-nope", "rating": 5}),
            404,
            "response_not_found",
            "id",
        ),
        (
            json!({"id": id, "rating": 6}),
            400,
            "invalid_value",
            "rating",
        ),
        (
            json!({"id": id, "rating": 0}),
            400,
            "invalid_value",
            "rating",
        ),
        (
            json!({"id": id, "rating": "five"}),
            400,
            "invalid_type",
            "rating",
        ),
        (
            json!({"id": id, "rating": 4.5}),
            400,
            "invalid_type",
            "rating",
        ),
        (
            json!({"id": id, "preferred": "yes"}),
            400,
            "invalid_type",
            "preferred",
        ),
        (json!({"id": id}), 400, "invalid_value", "rating"),
        (json!({"rating": 3}), 400, "invalid_type", ""),
        (json!({"id": id, "ratng": 3}), 400, "invalid_type", ""),
        (json!({"id": 17, "rating": 3}), 400, "invalid_type", "id"),
    ] {
        let reply = feedback(&server, body.clone());
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        let error = &reply.json()["error"];
        assert_eq!(error["code"], code, "{body}: {error}");
        if !param.is_empty() {
            assert_eq!(error["param"], param, "{body}: {error}");
        }
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    let reply = server.post("/v1/feedback", "{\"id\": ", None);
    assert_eq!(reply.json()["error"]["code"], "invalid_json");
    let reply = feedback(&server, json!({"id": id, "rating": 3, "preferred": true}));
    assert_eq!(reply.status, 200, "{}", reply.body);

    let server = start("api_keys = [\"sk-user\"]");
    let reply = feedback(&server, json!({"id": "x", "rating": 3}));
    assert_eq!(reply.status, 401, "{}", reply.body);
}

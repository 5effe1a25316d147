//! The OpenAI-compatible endpoints against `whet generate`'s output: the server on a loopback
//! port with the bundled base model and a LoRA adapter, greedy decoding, identical text.

#![allow(clippy::unwrap_used)]

mod test_server;

use serde_json::{json, Value};
use test_server::{adapter_dir, chat_messages, reference, shared, start, write_adapter, TestServer, ADAPTER};
use whet_models::FinishReason;

const QUESTION: &str = "Please give me the warranty period of the Corvid WX-4.";
const PROMPT: &str = "The Corvid WX-4 weather station";

fn finish_name(f: FinishReason) -> &'static str {
    f.as_str()
}

#[test]
fn greedy_chat_completion_equals_whet_generate_for_base_and_adapter() {
    let server = shared();
    let messages = chat_messages(QUESTION);
    for (model, adapter) in [("base", None), (ADAPTER, Some(adapter_dir()))] {
        let expected = reference(adapter, Some(&messages), None, 40);
        let reply = server.post_json(
            "/v1/chat/completions",
            &json!({"model": model, "messages": messages, "max_tokens": 40, "temperature": 0}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        assert_eq!(
            body["choices"][0]["message"]["content"], expected.text,
            "model {model}"
        );
        assert_eq!(body["choices"][0]["message"]["role"], "assistant");
        assert_eq!(
            body["choices"][0]["finish_reason"],
            finish_name(expected.finish)
        );
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], model);
        assert_eq!(body["usage"]["prompt_tokens"], expected.prompt_tokens);
        assert_eq!(body["usage"]["completion_tokens"], expected.tokens.len());
        assert_eq!(
            body["usage"]["total_tokens"],
            expected.prompt_tokens + expected.tokens.len()
        );
        let id = body["id"].as_str().unwrap();
        assert!(id.starts_with("chatcmpl-"), "{id}");
        assert_eq!(reply.header("x-request-id"), Some(id));
        assert_eq!(reply.header("x-whet-model"), Some(model));
    }
    // The adapter changes the answer, so the two comparisons above are not the same one.
    let base = reference(None, Some(&messages), None, 40);
    let tuned = reference(Some(adapter_dir()), Some(&messages), None, 40);
    assert_ne!(
        base.tokens, tuned.tokens,
        "the test adapter must change the greedy output"
    );
}

#[test]
fn greedy_completion_equals_whet_generate_and_without_temperature_is_greedy_too() {
    let server = shared();
    for (model, adapter) in [("base", None), (ADAPTER, Some(adapter_dir()))] {
        let expected = reference(adapter, None, Some(PROMPT), 30);
        // The bundled model's generation_config.json is greedy, so no temperature means greedy.
        let reply = server.post_json(
            "/v1/completions",
            &json!({"model": model, "prompt": PROMPT, "max_tokens": 30}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        assert_eq!(body["object"], "text_completion");
        assert_eq!(body["choices"][0]["text"], expected.text);
        assert_eq!(
            body["choices"][0]["finish_reason"],
            finish_name(expected.finish)
        );
        assert_eq!(body["usage"]["prompt_tokens"], expected.prompt_tokens);
        assert_eq!(body["usage"]["completion_tokens"], expected.tokens.len());
        assert!(body["id"].as_str().unwrap().starts_with("cmpl-"));
    }
}

/// The content deltas of a streamed chat, its finish reasons and its usage chunk.
fn read_chat_stream(data: &[String]) -> (String, Vec<Value>, Option<Value>) {
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    let mut text = String::new();
    let mut finishes = Vec::new();
    let mut usage = None;
    for d in &data[..data.len() - 1] {
        let chunk: Value = serde_json::from_str(d).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk", "{d}");
        assert!(chunk["id"].as_str().unwrap().starts_with("chatcmpl-"));
        if !chunk["usage"].is_null() {
            usage = Some(chunk["usage"].clone());
        }
        for c in chunk["choices"].as_array().unwrap() {
            if let Some(t) = c["delta"]["content"].as_str() {
                text.push_str(t);
            }
            if !c["finish_reason"].is_null() {
                finishes.push(c["finish_reason"].clone());
            }
        }
    }
    (text, finishes, usage)
}

#[test]
fn streamed_chat_chunks_concatenate_to_the_greedy_text() {
    let server = shared();
    let messages = chat_messages(QUESTION);
    for (model, adapter) in [("base", None), (ADAPTER, Some(adapter_dir()))] {
        let expected = reference(adapter, Some(&messages), None, 40);
        let reply = server.post_json(
            "/v1/chat/completions",
            &json!({"model": model, "messages": messages, "max_tokens": 40, "temperature": 0, "stream": true,
                    "stream_options": {"include_usage": true}}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream"));
        assert_eq!(reply.header("x-whet-model"), Some(model));
        let data = reply.sse_data();
        let (text, finishes, usage) = read_chat_stream(&data);
        assert_eq!(text, expected.text);
        assert_eq!(finishes, vec![json!(finish_name(expected.finish))]);
        let usage = usage.expect("a usage chunk with include_usage");
        assert_eq!(usage["completion_tokens"], expected.tokens.len());
        assert_eq!(usage["prompt_tokens"], expected.prompt_tokens);
        // The first chunk announces the assistant's role.
        let first: Value = serde_json::from_str(&data[0]).unwrap();
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    }
}

#[test]
fn streamed_completion_chunks_concatenate_to_the_greedy_text() {
    let server = shared();
    let expected = reference(Some(adapter_dir()), None, Some(PROMPT), 30);
    let reply = server.post_json(
        "/v1/completions",
        &json!({"model": ADAPTER, "prompt": PROMPT, "max_tokens": 30, "temperature": 0, "stream": true}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let data = reply.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let mut text = String::new();
    for d in &data[..data.len() - 1] {
        let chunk: Value = serde_json::from_str(d).unwrap();
        assert_eq!(chunk["object"], "text_completion");
        text.push_str(chunk["choices"][0]["text"].as_str().unwrap());
    }
    assert_eq!(text, expected.text);
}

#[test]
fn stop_string_cuts_the_text_streamed_or_not() {
    let server = shared();
    let expected = reference(None, None, Some(PROMPT), 30);
    // A stop string from the middle of the greedy text: the answer is the text before it.
    let words: Vec<&str> = expected.text.split_whitespace().collect();
    assert!(
        words.len() >= 4,
        "greedy text too short for this test: {:?}",
        expected.text
    );
    let stop = words[words.len() / 2];
    let cut = &expected.text[..expected.text.find(stop).unwrap()];
    let request = json!({"model": "base", "prompt": PROMPT, "max_tokens": 30, "stop": [stop]});
    let body = server.post_json("/v1/completions", &request).json();
    assert_eq!(body["choices"][0]["text"], cut);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() < expected.tokens.len() as u64);

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let reply = server.post_json("/v1/completions", &streamed);
    let data = reply.sse_data();
    let text: String = data[..data.len() - 1]
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, cut);
}

#[test]
fn n_choices_with_a_seed_are_reproducible_and_logprobs_are_reported() {
    let server = shared();
    let request = json!({"model": "base", "messages": chat_messages(QUESTION), "max_tokens": 12,
                         "temperature": 1.0, "seed": 5, "n": 2, "logprobs": true, "top_logprobs": 3});
    let a = server.post_json("/v1/chat/completions", &request).json();
    let b = server.post_json("/v1/chat/completions", &request).json();
    let choices = a["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    assert_eq!(a["choices"], b["choices"], "same seed, same choices");
    for c in choices {
        let content = c["logprobs"]["content"].as_array().unwrap();
        assert!(!content.is_empty());
        for entry in content {
            assert!(entry["logprob"].as_f64().unwrap() <= 0.0);
            assert_eq!(entry["top_logprobs"].as_array().unwrap().len(), 3);
        }
    }
    let completion = server
        .post_json(
            "/v1/completions",
            &json!({"model": "base", "prompt": PROMPT, "max_tokens": 5, "logprobs": 2}),
        )
        .json();
    let lp = &completion["choices"][0]["logprobs"];
    assert_eq!(
        lp["token_logprobs"].as_array().unwrap().len(),
        lp["tokens"].as_array().unwrap().len()
    );
    assert_eq!(lp["top_logprobs"][0].as_object().unwrap().len(), 2);
}

#[test]
fn requests_for_the_base_and_two_adapters_batched_together_each_match_their_reference() {
    // A second adapter, added at run time, beside the configured one.
    let root = tempfile::tempdir().unwrap();
    let second_dir = root.path().join("second");
    write_adapter(&second_dir, 5);
    let server = start(&format!("adapter_dirs = [{:?}]\nmax_batch = 9", root.path()));
    let add = json!({"name": "second", "path": second_dir.display().to_string()});
    assert_eq!(server.post("/v1/adapters", &add.to_string(), None).status, 201);
    let messages = chat_messages(QUESTION);
    let variants = [("base", None), (ADAPTER, Some(adapter_dir())), ("second", Some(second_dir.as_path()))];
    let expected: Vec<String> = variants.iter().map(|(_, dir)| reference(*dir, Some(&messages), None, 40).text).collect();
    assert!(expected[0] != expected[1] && expected[1] != expected[2] && expected[0] != expected[2], "{expected:?}");
    // Nine requests at once, three per model: the engine decodes them in shared steps.
    let handles: Vec<_> = (0..9)
        .map(|i| {
            let model = variants[i % 3].0;
            let body = json!({"model": model, "messages": messages, "max_tokens": 40, "temperature": 0});
            let url = server.url.clone();
            std::thread::spawn(move || (i % 3, TestServer { url }.post_json("/v1/chat/completions", &body).json()))
        })
        .collect();
    for h in handles {
        let (v, body) = h.join().unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], expected[v], "{}", variants[v].0);
    }
}

#[test]
fn models_lists_the_base_model_and_every_adapter() {
    let server = shared();
    let reply = server.get("/v1/models", None);
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["base", ADAPTER]);
    assert_eq!(body["data"][1]["parent"], "base");
    assert_eq!(
        server.get(&format!("/v1/models/{ADAPTER}"), None).json()["id"],
        ADAPTER
    );
    assert_eq!(server.get("/v1/models/nope", None).status, 404);
    assert_eq!(server.get("/health", None).status, 200);
    assert_eq!(server.ready()["status"], "ready");
}

#[test]
fn streamed_choices_of_several_prompts_each_carry_their_own_text() {
    let server = shared();
    let prompts = [PROMPT, "Is there a way to set the time manually"];
    let expected: Vec<String> = prompts
        .iter()
        .map(|p| reference(None, None, Some(p), 16).text)
        .collect();
    let reply = server.post_json(
        "/v1/completions",
        &json!({"model": "base", "prompt": prompts, "n": 2, "max_tokens": 16, "temperature": 0, "stream": true}),
    );
    let data = reply.sse_data();
    let mut texts = vec![String::new(); 4];
    for d in &data[..data.len() - 1] {
        let chunk: Value = serde_json::from_str(d).unwrap();
        for c in chunk["choices"].as_array().unwrap() {
            texts[c["index"].as_u64().unwrap() as usize].push_str(c["text"].as_str().unwrap());
        }
    }
    // Choice index = prompt index × n + j.
    assert_eq!(
        texts,
        vec![
            expected[0].clone(),
            expected[0].clone(),
            expected[1].clone(),
            expected[1].clone()
        ]
    );
}

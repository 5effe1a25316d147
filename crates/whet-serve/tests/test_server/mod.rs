//! A whet server on a loopback port (port 0) with the bundled base model and a LoRA adapter
//! made for it, an HTTP client for it (ureq, blocking), and the reference generations the
//! answers are compared with (`whet_models::generate`, as `whet generate` runs it).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use candle_core::{DType, Device};
use serde_json::{json, Value};
use whet_adapter::{LoraConfig, TargetModules};
use whet_data::ModelTokenizer;
use whet_models::{
    generate, CausalLm, FinishReason, GenerationConfig, GenerationParams, SamplingParams,
};
use whet_serve::{ServeConfig, Server};

pub const ADAPTER: &str = "support-test";

pub fn base_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/base-model")
}

/// A LoRA adapter for the base model with a non-zero B (so it changes the output), written once
/// per test process.
pub fn adapter_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        write_adapter(&dir, 0);
        dir
    })
}

/// Writes a LoRA adapter for the base model with a non-zero B into `dir`; adapters of different
/// `variant`s have different weights (and so different versions).
pub fn write_adapter(dir: &Path, variant: usize) {
    let mut model = CausalLm::load(&base_model_dir(), DType::F32, &Device::Cpu).unwrap();
    let config = LoraConfig {
        r: 8,
        lora_alpha: 16.0,
        lora_dropout: 0.0,
        use_rslora: false,
        target_modules: TargetModules::AllLinear,
        base_model_name_or_path: None,
    };
    whet_adapter::init_adapter(&mut model, &config, 7).unwrap();
    for (i, (_, proj)) in model.projections_mut().into_iter().enumerate() {
        if let Some(lora) = &mut proj.lora {
            // B from a seeded init too: A's values, reshaped, scaled down.
            let (out, r) = lora.b.dims2().unwrap();
            let vals: Vec<f32> = (0..out * r)
                .map(|k| {
                    (((k * 7919 + i * 104729 + variant * 31) % 2001) as f32 / 1000.0 - 1.0) * 0.5
                })
                .collect();
            lora.b = candle_core::Tensor::from_vec(vals, (out, r), &Device::Cpu).unwrap();
        }
    }
    whet_adapter::save_adapter(&model, &config, dir).unwrap();
}

/// The body of a streamed response, read as it arrives.
pub type StreamReader = BufReader<Box<dyn std::io::Read + Send + Sync>>;

pub struct TestServer {
    pub url: String,
}

/// Starts a server with `extra` TOML lines added to a config serving the base model and the
/// test adapter.
pub fn start(extra: &str) -> TestServer {
    let (server, _) = start_with_shutdown(extra, std::future::pending());
    server
}

/// [`start`] with a shutdown signal; the handle's thread returns what `Server::run` returned.
pub fn start_with_shutdown(
    extra: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (TestServer, std::thread::JoinHandle<whet_serve::Result<()>>) {
    // Each server its own feedback database in a fresh directory, unless `extra` names one.
    let feedback_db = if extra.contains("feedback_db") {
        String::new()
    } else {
        let dir = tempfile::tempdir().unwrap().keep();
        format!(
            "feedback_db = {:?}\n",
            dir.join("feedback.sqlite").display().to_string()
        )
    };
    let text = format!(
        "model = {:?}\nmodel_name = \"base\"\nlisten = \"127.0.0.1:0\"\n{feedback_db}{extra}\n[adapters]\n{ADAPTER} = {:?}\n",
        base_model_dir().display().to_string(),
        adapter_dir().display().to_string()
    );
    let config = ServeConfig::parse(&text, Path::new("test.toml"), Path::new(".")).unwrap();
    let server = Server::new(&config).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        server.run(shutdown, move |addr| {
            tx.send(addr).unwrap();
        })
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let server = TestServer {
        url: format!("http://{addr}"),
    };
    (server, handle)
}

/// A server with default settings shared by the tests of one test binary.
pub fn shared() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| start(""))
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `data:` payloads of a server-sent-events body.
    pub fn sse_data(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.trim_start().to_string())
            .collect()
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

fn reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let body = response.into_string().unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

impl TestServer {
    pub fn post(&self, path: &str, body: &str, key: Option<&str>) -> Reply {
        let mut req = agent()
            .post(&format!("{}{path}", self.url))
            .set("Content-Type", "application/json");
        if let Some(key) = key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        reply(req.send_string(body))
    }

    pub fn put(&self, path: &str, body: &str, key: Option<&str>) -> Reply {
        let mut req = agent()
            .put(&format!("{}{path}", self.url))
            .set("Content-Type", "application/json");
        if let Some(key) = key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        reply(req.send_string(body))
    }

    pub fn delete(&self, path: &str, key: Option<&str>) -> Reply {
        let mut req = agent().delete(&format!("{}{path}", self.url));
        if let Some(key) = key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        reply(req.call())
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path, &body.to_string(), None)
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut req = agent().get(&format!("{}{path}", self.url));
        if let Some(key) = key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        reply(req.call())
    }

    /// Starts a streamed request and returns a reader of its body, for reading part of a stream.
    pub fn open_stream(&self, path: &str, body: &Value) -> StreamReader {
        let response = agent()
            .post(&format!("{}{path}", self.url))
            .send_string(&body.to_string())
            .unwrap();
        BufReader::new(response.into_reader())
    }

    /// [`TestServer::open_stream`] with the response's headers.
    pub fn open_stream_with_headers(
        &self,
        path: &str,
        body: &Value,
    ) -> (Vec<(String, String)>, StreamReader) {
        let response = agent()
            .post(&format!("{}{path}", self.url))
            .send_string(&body.to_string())
            .unwrap();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_string())))
            .collect();
        (headers, BufReader::new(response.into_reader()))
    }

    pub fn ready(&self) -> Value {
        self.get("/ready", None).json()
    }
}

/// Reads the next `data:` payload of a stream.
pub fn next_data(reader: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(d) = line.strip_prefix("data:") {
            return Some(d.trim().to_string());
        }
    }
}

/// What `whet generate` produces: greedy tokens and their text.
pub struct Reference {
    pub prompt_tokens: usize,
    pub tokens: Vec<u32>,
    pub text: String,
    pub finish: FinishReason,
}

/// `whet generate` (`--messages` for a chat, `--prompt` otherwise) with greedy decoding, with the
/// adapter in `adapter` when given.
pub fn reference(
    adapter: Option<&Path>,
    messages: Option<&Value>,
    prompt: Option<&str>,
    max_new_tokens: usize,
) -> Reference {
    let dir = base_model_dir();
    let mut model = CausalLm::load(&dir, DType::F32, &Device::Cpu).unwrap();
    if let Some(adapter) = adapter {
        whet_adapter::load_adapter(&mut model, adapter).unwrap();
    }
    let tok = ModelTokenizer::load(&dir).unwrap();
    let prompt_ids = match (messages, prompt) {
        (Some(m), _) => tok
            .encode(
                &tok.render_chat(m.as_array().unwrap(), true).unwrap(),
                false,
            )
            .unwrap(),
        (None, Some(p)) => tok.encode(p, true).unwrap(),
        _ => unreachable!(),
    };
    let defaults = GenerationConfig::read(&dir).unwrap();
    let params = GenerationParams {
        max_new_tokens,
        eos_token_ids: defaults.resolve_eos_token_ids(&model.config, tok.eos_token_id()),
        sampling: SamplingParams::default(),
    };
    let mut shown = Vec::new();
    let out = generate(&model, &prompt_ids, &params, |t| {
        shown.push(t);
        true
    })
    .unwrap();
    Reference {
        prompt_tokens: prompt_ids.len(),
        text: tok.decode(&shown, true).unwrap(),
        tokens: out.tokens,
        finish: out.finish,
    }
}

pub fn chat_messages(question: &str) -> Value {
    json!([
        {"role": "system", "content": "You are the support assistant."},
        {"role": "user", "content": question}
    ])
}

/// Log lines written through `tracing` by this test process (install it as the subscriber's
/// writer, then read `.0`).
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

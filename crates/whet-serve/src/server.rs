//! The axum application: routes, bearer-key authentication, the `models`, `health` and `ready`
//! endpoints, and starting and stopping the server.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models`,
//! `GET /v1/models/{model}` (all behind the API keys when the config sets any), `GET /health`
//! (the process answers) and `GET /ready` (the engine runs; with queue and batch counts), both
//! open so that probes need no key. Anything else is a 404 or 405 in OpenAI's error format.
//! Ctrl-C (SIGINT) stops accepting connections and lets requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::api_error::ApiError;
use crate::completions::{chat_completions, completions};
use crate::config::ServeConfig;
use crate::engine::EngineHandle;
use crate::error::{Error, Result};
use crate::served_models::ServedModels;

/// What the server enforces per request.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_queue: usize,
    pub max_request_bytes: usize,
    pub request_timeout: Duration,
}

pub struct AppState {
    pub models: ServedModels,
    pub engine: EngineHandle,
    pub limits: Limits,
    /// Accepted bearer keys (API and admin keys); empty: no authentication.
    keys: Vec<String>,
}

/// A loaded server: models in memory, engine running, not yet listening.
pub struct Server {
    state: Arc<AppState>,
    listen: SocketAddr,
}

impl Server {
    /// Loads the model and adapters of `config` and starts the engine.
    pub fn new(config: &ServeConfig) -> Result<Self> {
        let loaded = ServedModels::load(config)?;
        let engine = EngineHandle::spawn(
            loaded.model,
            loaded.adapters,
            config.max_batch,
            config.max_queue,
        )?;
        let keys = config
            .api_keys
            .iter()
            .chain(&config.admin_keys)
            .cloned()
            .collect();
        let state = AppState {
            models: loaded.served,
            engine,
            limits: Limits {
                max_queue: config.max_queue,
                max_request_bytes: config.max_request_bytes,
                request_timeout: Duration::from_secs_f64(config.request_timeout_secs),
            },
            keys,
        };
        Ok(Self {
            state: Arc::new(state),
            listen: config.listen,
        })
    }

    /// The served model names, base model first.
    pub fn model_names(&self) -> Vec<String> {
        self.state
            .models
            .models
            .iter()
            .map(|m| m.name.clone())
            .collect()
    }

    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Listens on the configured address until `shutdown` resolves, then finishes the requests
    /// in flight. `on_listening` gets the bound address (useful with port 0).
    pub fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        on_listening: impl FnOnce(SocketAddr),
    ) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("whet-http")
            .build()
            .map_err(Error::Serve)?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .map_err(|source| Error::Bind {
                    addr: self.listen,
                    source,
                })?;
            let addr = listener.local_addr().map_err(Error::Serve)?;
            on_listening(addr);
            axum::serve(listener, self.router())
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(Error::Serve)
        })
    }
}

/// Resolves on Ctrl-C (SIGINT).
pub async fn ctrl_c() {
    // If the signal cannot be watched, never resolve rather than stop at once.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.limits.max_request_bytes;
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{model}", get(get_model))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .merge(v1)
        .route("/health", get(health))
        .route("/ready", get(ready))
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::no_route(method.as_str(), uri.path())
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::method_not_allowed(method.as_str(), uri.path())
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Lets a request through when it carries `Authorization: Bearer KEY` with a configured key.
async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.keys.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => ApiError::unauthorized(
            "You didn't provide an API key. Send it as `Authorization: Bearer YOUR_KEY`",
        )
        .into_response(),
        Some(key) if state.keys.iter().any(|k| same_key(k, key)) => next.run(request).await,
        Some(_) => ApiError::unauthorized("Incorrect API key provided").into_response(),
    }
}

/// Compares keys in time independent of where they differ.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn model_json(state: &AppState, name: &str, adapter: bool) -> serde_json::Value {
    let base = state
        .models
        .models
        .first()
        .map(|m| m.name.as_str())
        .unwrap_or_default();
    json!({
        "id": name,
        "object": "model",
        "created": state.models.created,
        "owned_by": "whet",
        "root": if adapter { base } else { name },
        "parent": if adapter { Some(base) } else { None },
        "max_model_len": state.models.context_length,
    })
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let data: Vec<_> = state
        .models
        .models
        .iter()
        .map(|m| model_json(&state, &m.name, m.adapter.is_some()))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

async fn get_model(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    match state.models.get(&name) {
        Some(m) => Json(model_json(&state, &m.name, m.adapter.is_some())).into_response(),
        None => ApiError::model_not_found(&name, &state.models.names()).into_response(),
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let stats = &state.engine.stats;
    let body = json!({
        "status": if state.engine.is_running() { "ready" } else { "engine stopped" },
        "queued": stats.queued.load(Ordering::Relaxed),
        "active": stats.active.load(Ordering::Relaxed),
        "completed": stats.completed.load(Ordering::Relaxed),
        "cancelled": stats.cancelled.load(Ordering::Relaxed),
        "generated_tokens": stats.generated_tokens.load(Ordering::Relaxed),
    });
    if state.engine.is_running() {
        Json(body).into_response()
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("sk-abc", "sk-abc"));
        assert!(!same_key("sk-abc", "sk-abd"));
        assert!(!same_key("sk-abc", "sk-ab"));
    }
}

//! The axum application: routes, bearer-key authentication, the `models`, `health` and `ready`
//! endpoints, and starting and stopping the server.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models`,
//! `GET /v1/models/{model}`, `POST /v1/feedback` (all behind the API keys when the config sets
//! any),
//! `PUT /v1/routes/{route}`, `POST /v1/adapters` and `DELETE /v1/adapters/{name}` (admin keys
//! only: 401 without a key, 403 with a non-admin one),
//! `GET /health` (the process answers), `GET /ready` (the engine runs; with queue and batch
//! counts), `GET /metrics` (Prometheus) and `GET /openapi.json` (this API's description), open
//! so that probes, scrapers and tools need no key. `crate::openapi::ROUTES` lists them all. Anything else is a 404 or 405 in OpenAI's
//! error format.
//! Ctrl-C (SIGINT) stops accepting connections and lets requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::json;

use crate::adapter_api::{delete_adapter, post_adapter};
use crate::api_error::ApiError;
use crate::completions::{chat_completions, completions};
use crate::config::ServeConfig;
use crate::engine::EngineHandle;
use crate::error::{Error, Result};
use crate::feedback_api::post_feedback;
use crate::feedback_store::FeedbackStore;
use crate::guardrails::Guardrails;
use crate::metrics::Metrics;
use crate::openapi::openapi;
use crate::route_api::put_route;
use crate::routes::Routes;
use crate::served_models::{ServedModel, ServedModels};

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
    pub routes: Routes,
    pub feedback: Arc<FeedbackStore>,
    pub metrics: Arc<Metrics>,
    pub guardrails: Guardrails,
    /// Where `POST /v1/adapters` may load adapters from (the config's `adapter_dirs`).
    pub adapter_dirs: Vec<PathBuf>,
    /// Held while routes or adapters change, so a route never names a removed adapter.
    changes: Mutex<()>,
    /// Accepted bearer keys (API and admin keys); empty: no authentication.
    keys: Vec<String>,
    /// The keys of the administrative routes.
    admin_keys: Vec<String>,
}

impl AppState {
    /// Serialises changes of routes and adapters.
    pub fn lock_changes(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The served model names and route names, for error messages.
    pub fn model_and_route_names(&self) -> String {
        let mut names = self.models.names();
        for route in self.routes.names() {
            names.push_str(&format!(", `{route}` (route)"));
        }
        names
    }
}

/// A loaded server: models in memory, engine running, not yet listening.
pub struct Server {
    state: Arc<AppState>,
    listen: SocketAddr,
}

impl Server {
    /// Loads the model and adapters of `config` and starts the engine.
    pub fn new(config: &ServeConfig) -> Result<Self> {
        // The database first: a bad `feedback_db` fails before minutes of model loading.
        let feedback = Arc::new(FeedbackStore::open(&config.feedback_db, config.feedback_retention_days)?);
        let loaded = ServedModels::load(config)?;
        let engine = EngineHandle::spawn(loaded.model, config.max_batch, config.max_queue, config.prefill_chunk_tokens)?;
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
            routes: Routes::new(config.routes.clone()),
            feedback,
            metrics: Arc::new(
                Metrics::new(config.max_queue, config.max_batch)
                    .map_err(|e| Error::Metrics(e.to_string()))?,
            ),
            guardrails: Guardrails::new(&config.guardrails).map_err(|(key, message)| {
                Error::Config {
                    path: "the config".into(),
                    key,
                    message,
                }
            })?,
            adapter_dirs: config.adapter_dirs.clone(),
            changes: Mutex::new(()),
            keys,
            admin_keys: config.admin_keys.clone(),
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
            .all()
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
        .route("/v1/feedback", post(post_feedback))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    let admin = Router::new()
        .route("/v1/routes/{route}", put(put_route))
        .route("/v1/adapters", post(post_adapter))
        .route("/v1/adapters/{name}", delete(delete_adapter))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .merge(v1)
        .merge(admin)
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::no_route(method.as_str(), uri.path())
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::method_not_allowed(method.as_str(), uri.path())
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The key of an `Authorization: Bearer KEY` header.
fn bearer(request: &Request) -> Option<&str> {
    request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim)
}

/// Lets a request through when it carries `Authorization: Bearer KEY` with a configured key.
async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.keys.is_empty() {
        return next.run(request).await;
    }
    let given = bearer(&request);
    let refused = match given {
        None => ApiError::unauthorized(
            "You didn't provide an API key. Send it as `Authorization: Bearer YOUR_KEY`",
        ),
        Some(key) if state.keys.iter().any(|k| same_key(k, key)) => return next.run(request).await,
        Some(_) => ApiError::unauthorized("Incorrect API key provided"),
    };
    refuse(&state, refused)
}

/// Lets a request through when it carries an admin key (or when no keys are configured at all):
/// 401 without a key or with an unknown one, 403 with a key that is not an admin key.
async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.keys.is_empty() {
        return next.run(request).await;
    }
    let given = bearer(&request);
    let refused = match given {
        None => ApiError::unauthorized(
            "This route needs an admin key. Send it as `Authorization: Bearer ADMIN_KEY`",
        ),
        Some(key) if state.admin_keys.iter().any(|k| same_key(k, key)) => {
            return next.run(request).await
        }
        Some(key) if state.keys.iter().any(|k| same_key(k, key)) => ApiError::forbidden(
            "This route needs an admin key (one of the config's `admin_keys`); the key given is an API key",
        ),
        Some(_) => ApiError::unauthorized("Incorrect API key provided"),
    };
    refuse(&state, refused)
}

/// Answers a request refused for its key, counting it.
fn refuse(state: &AppState, error: ApiError) -> Response {
    state
        .metrics
        .auth_failures
        .with_label_values(&[error.status.as_str()])
        .inc();
    error.into_response()
}

/// Compares keys in time independent of where they differ.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A served model's `/v1/models` entry.
pub fn model_json(state: &AppState, model: &ServedModel) -> serde_json::Value {
    let base = state.models.base_name();
    let base = base.as_str();
    let adapter = model.lora.is_some();
    let mut entry = json!({
        "id": model.name,
        "object": "model",
        "created": state.models.created,
        "owned_by": "whet",
        "root": if adapter { base } else { &model.name },
        "parent": if adapter { Some(base) } else { None },
        "max_model_len": state.models.context_length,
    });
    if let Some(version) = &model.version {
        entry["version"] = json!(version);
    }
    entry
}

/// A route's entry: OpenAI's model fields plus the route's current weights.
fn route_json(state: &AppState, route: &str) -> Option<serde_json::Value> {
    let weights = state.routes.weights(route)?;
    Some(json!({
        "id": route,
        "object": "model",
        "created": state.models.created,
        "owned_by": "whet",
        "root": null,
        "parent": null,
        "max_model_len": state.models.context_length,
        "route": {"weights": weights},
    }))
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let mut data: Vec<_> = state
        .models
        .all()
        .iter()
        .map(|m| model_json(&state, m))
        .collect();
    data.extend(
        state
            .routes
            .names()
            .iter()
            .filter_map(|r| route_json(&state, r)),
    );
    Json(json!({"object": "list", "data": data}))
}

async fn get_model(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    if let Some(m) = state.models.get(&name) {
        return Json(model_json(&state, &m)).into_response();
    }
    match route_json(&state, &name) {
        Some(entry) => Json(entry).into_response(),
        None => ApiError::model_not_found(&name, &state.model_and_route_names()).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(&state.engine.stats),
    )
        .into_response()
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

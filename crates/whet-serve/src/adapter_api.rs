//! Adapters added, replaced and removed while the server runs (admin keys only; the router
//! checks the key):
//!
//! - `POST /v1/adapters {"name", "path"}` loads the PEFT adapter directory `path`, checks it
//!   against the base model as startup does, and serves it as `name`; an adapter of that name
//!   is replaced (its version changes). 201 for a new name, 200 for a replacement; the answer is
//!   the model's `/v1/models` entry with `replaced` (the version it replaced, or null).
//! - `DELETE /v1/adapters/{name}` stops serving it; 409 (`adapter_in_use`) while a route lists it
//!   as a variant (naming the route: change its weights first), 404 for an unknown name.
//!
//! Paths are confined to the config's `adapter_dirs`: a path with a `..` component is a 400, and
//! the canonical path (symbolic links resolved) must lie inside a canonical `adapter_dirs`
//! entry, else 403 (`adapter_path_not_allowed`); with no `adapter_dirs` every path is refused.
//! A relative path is relative to the first `adapter_dirs` entry. The entries are canonicalised
//! at each request, so a directory created after the server started (a new training run's
//! output) counts; one that does not exist admits nothing.
//!
//! Requests already running keep the adapter (weights, tokenizer, version) they started with
//! (see `served_models`); requests planned after the change get the new one. Route changes and
//! adapter changes take one lock so that a route can never name a removed adapter. Adapters
//! added at run time fall under the default guardrail policy (`applies_to = ["*"]`) unless a
//! route with a policy of its own serves them.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::api_error::ApiError;
use crate::server::{model_json, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdapterRequest {
    name: String,
    path: PathBuf,
}

pub async fn post_adapter(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    add(state, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn add(
    state: Arc<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body =
        body.map_err(|e| ApiError::invalid_json(format!("Could not read the request body: {e}")))?;
    let request: AdapterRequest = crate::api_types::parse_json(&body, "an adapter")?;
    let name = request.name;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(
            "name",
            "adapter names must be non-empty without spaces or control characters",
        ));
    }
    if name == state.models.base_name() {
        return Err(ApiError::conflict(
            "name_taken",
            "name",
            format!("`{name}` is the base model's name; choose another name for the adapter"),
        ));
    }
    if state.routes.contains(&name) {
        return Err(ApiError::conflict(
            "name_taken",
            "name",
            format!("`{name}` is a route's name; choose another name for the adapter"),
        ));
    }
    let dir = confine(&state.adapter_dirs, &request.path)?;
    let loader = state.clone();
    let loaded_name = name.clone();
    let loaded_dir = dir.clone();
    let model =
        tokio::task::spawn_blocking(move || loader.models.load_adapter(&loaded_name, &loaded_dir))
            .await
            .map_err(|e| ApiError::internal(format!("loading the adapter: {e}")))?
            .map_err(|e| {
                ApiError::invalid(
                    "path",
                    format!(
                        "{} is not an adapter for this base model: {e}",
                        dir.display()
                    ),
                )
            })?;
    let version = model.version.clone();
    let replaced = {
        let _changing = state.lock_changes();
        state.models.insert(model)
    };
    let old = replaced.as_ref().and_then(|m| m.version.clone());
    tracing::info!(adapter = %name, path = %dir.display(), version = ?version, replaced = ?old, "adapter loaded");
    let served = state
        .models
        .get(&name)
        .ok_or_else(|| ApiError::internal("the adapter vanished while it was added"))?;
    let mut entry = model_json(&state, &served);
    entry["replaced"] = serde_json::json!(old);
    let status = if replaced.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(entry)).into_response())
}

pub async fn delete_adapter(
    State(state): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    remove(&state, &name).unwrap_or_else(IntoResponse::into_response)
}

fn remove(state: &AppState, name: &str) -> Result<Response, ApiError> {
    let _changing = state.lock_changes();
    if name == state.models.base_name() {
        return Err(ApiError::invalid(
            "name",
            format!("`{name}` is the base model, which cannot be removed; only adapters can"),
        ));
    }
    if let Some((route, _)) = state
        .routes
        .all()
        .into_iter()
        .find(|(_, weights)| weights.contains_key(name))
    {
        return Err(ApiError::conflict(
            "adapter_in_use",
            "name",
            format!("The route `{route}` lists `{name}` as a variant; take it out of the route's weights (PUT /v1/routes/{route}) before removing the adapter"),
        ));
    }
    let removed = state.models.remove(name).ok_or_else(|| {
        ApiError::not_found(
            "adapter_not_found",
            "name",
            format!(
                "There is no adapter `{name}`; served models: {}",
                state.models.names()
            ),
        )
    })?;
    tracing::info!(adapter = %name, version = ?removed.version, "adapter removed");
    Ok(Json(serde_json::json!({
        "id": name,
        "object": "model",
        "deleted": true,
        "version": removed.version,
    }))
    .into_response())
}

/// The canonical form of `path` if it lies inside one of `dirs`.
pub fn confine(dirs: &[PathBuf], path: &Path) -> Result<PathBuf, ApiError> {
    if path.as_os_str().is_empty() {
        return Err(ApiError::invalid(
            "path",
            "`path` must name an adapter directory",
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(ApiError::invalid(
            "path",
            format!(
                "`path` {} contains `..`; give the adapter directory's path without `..`",
                path.display()
            ),
        ));
    }
    let Some(first) = dirs.first() else {
        return Err(ApiError::path_not_allowed(
            "This server accepts no adapter paths: set `adapter_dirs = [\"...\"]` in its config to the directories adapters may be loaded from",
        ));
    };
    let joined = if path.is_relative() {
        first.join(path)
    } else {
        path.to_path_buf()
    };
    let canonical = joined.canonicalize().map_err(|e| {
        ApiError::invalid(
            "path",
            format!(
                "{} cannot be read ({e}); give an existing adapter directory",
                joined.display()
            ),
        )
    })?;
    let inside = dirs
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .any(|d| canonical.starts_with(d));
    if !inside {
        let allowed: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(ApiError::path_not_allowed(format!(
            "{} is outside the directories adapters may be loaded from ({}; the config's `adapter_dirs`)",
            canonical.display(),
            allowed.join(", ")
        )));
    }
    if !canonical.is_dir() {
        return Err(ApiError::invalid(
            "path",
            format!("{} is not a directory; give a PEFT adapter directory (adapter_config.json, adapter_model.safetensors)", canonical.display()),
        ));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_confined_to_the_adapter_dirs() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("adapters");
        let inside = allowed.join("a");
        let outside = root.path().join("elsewhere");
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let dirs = vec![root.path().join("missing-dir"), allowed.clone()];
        assert_eq!(
            confine(&dirs, &inside).unwrap(),
            inside.canonicalize().unwrap()
        );
        let first = vec![allowed.clone()];
        assert_eq!(
            confine(&first, Path::new("a")).unwrap(),
            inside.canonicalize().unwrap()
        );
        let e = confine(&dirs, &outside).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code),
            (403, "adapter_path_not_allowed")
        );
        let e = confine(&dirs, &allowed.join("../elsewhere")).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains(".."), "{}", e.message);
        #[cfg(unix)]
        {
            let link = allowed.join("sneaky");
            std::os::unix::fs::symlink(&outside, &link).unwrap();
            assert_eq!(confine(&dirs, &link).unwrap_err().status.as_u16(), 403);
        }
        assert_eq!(confine(&[], &inside).unwrap_err().status.as_u16(), 403);
        assert_eq!(
            confine(&dirs, &allowed.join("missing"))
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
    }
}

//! `PUT /v1/routes/{route}` with `{"weights": {"VARIANT": WEIGHT, ...}}`: replaces the weights of
//! an A/B route while the server runs (admin keys only; the router checks the key). The new
//! weights are checked as the config's are: every variant a served model, integer weights
//! (0 allowed: the variant gets no traffic), at least one above zero. Unknown fields are refused
//! so that a misspelt `weights` does not silently do nothing. The answer is the route's entry
//! with the weights now in force.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::api_error::ApiError;
use crate::config::check_weights;
use crate::server::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteUpdate {
    weights: BTreeMap<String, u32>,
}

pub async fn put_route(
    State(state): State<Arc<AppState>>,
    Path(route): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    update(&state, &route, body).unwrap_or_else(IntoResponse::into_response)
}

fn update(
    state: &AppState,
    route: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body =
        body.map_err(|e| ApiError::invalid_json(format!("Could not read the request body: {e}")))?;
    if !state.routes.contains(route) {
        let names = state
            .routes
            .names()
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ApiError::not_found(
            "route_not_found",
            "route",
            format!("There is no route `{route}`; routes are made in the config's [routes] table; this server has: {names}"),
        ));
    }
    let update: RouteUpdate = crate::api_types::parse_json(&body, "a route update")?;
    let _changing = state.lock_changes();
    let models = state.models.all();
    let served: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    check_weights(&update.weights, &served)
        .map_err(|message| ApiError::invalid("weights", format!("`weights` {message}")))?;
    state.routes.set(route, update.weights.clone());
    tracing::info!(route = %route, weights = ?update.weights, "route weights changed");
    Ok(Json(json!({"id": route, "object": "route", "weights": update.weights})).into_response())
}

//! `POST /v1/feedback`: what a user thought of a response, stored with it in the feedback
//! database for `whet feedback export`.
//!
//! Body: `{"id": RESPONSE_ID, "rating": 1..5, "preferred": true|false, "comment": "..."}`; `id`
//! is a completion's `id` (also its `x-request-id` header) and at least one of `rating` and
//! `preferred` is required. A response can be rated again; the latest feedback counts. Answers:
//! 200 `{"object": "feedback", "id": N, "response_id": ...}`; 400 for a wrong type, a rating
//! outside 1 to 5, unknown fields or neither `rating` nor `preferred`; 404
//! (`response_not_found`) for an id this server did not store (a response is stored once it has
//! finished; failed and cancelled requests are not). Unknown fields are refused, not ignored:
//! feedback lost to a misspelt `ratng` would go unnoticed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::api_error::ApiError;
use crate::api_types::parse_json;
use crate::feedback_store::{FeedbackOutcome, FeedbackRecord};
use crate::server::AppState;

/// Longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    id: String,
    #[serde(default)]
    rating: Option<i64>,
    #[serde(default)]
    preferred: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn post_feedback(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match check(body) {
        Ok(record) => store(&state, record)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

/// The feedback in `body`, checked.
fn check(body: Result<Bytes, BytesRejection>) -> Result<FeedbackRecord, ApiError> {
    let body =
        body.map_err(|e| ApiError::invalid_json(format!("Could not read the request body: {e}")))?;
    let b: FeedbackBody = parse_json(&body, "feedback")?;
    let rating = match b.rating {
        None => None,
        Some(r @ 1..=5) => Some(r as u8),
        Some(r) => {
            return Err(ApiError::invalid(
                "rating",
                format!("`rating` must be an integer from 1 (worst) to 5 (best), got {r}"),
            ))
        }
    };
    if rating.is_none() && b.preferred.is_none() {
        return Err(ApiError::invalid(
            "rating",
            "Feedback needs `rating` (an integer from 1 to 5) or `preferred` (true or false), or both",
        ));
    }
    if b.id.trim().is_empty() {
        return Err(ApiError::invalid(
            "id",
            "`id` must be the `id` of a completion response",
        ));
    }
    if let Some(c) = b
        .comment
        .as_ref()
        .filter(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(ApiError::invalid(
            "comment",
            format!(
                "`comment` has {} characters; at most {MAX_COMMENT_CHARS} are kept",
                c.chars().count()
            ),
        ));
    }
    Ok(FeedbackRecord {
        response_id: b.id,
        rating,
        preferred: b.preferred,
        comment: b.comment,
    })
}

async fn store(state: &AppState, record: FeedbackRecord) -> Result<Response, ApiError> {
    let response_id = record.response_id.clone();
    let (rating, preferred) = (record.rating, record.preferred);
    match state.feedback.feedback(record).await {
        FeedbackOutcome::Stored { id, route, variant } => {
            state
                .metrics
                .feedback(route.as_deref().unwrap_or(""), &variant, rating, preferred);
            tracing::info!(response_id = %response_id, route = %route.as_deref().unwrap_or(""), variant = %variant, "feedback stored");
            Ok(Json(json!({"object": "feedback", "id": id, "response_id": response_id}))
                .into_response())
        }
        FeedbackOutcome::UnknownResponse => Err(ApiError::not_found(
            "response_not_found",
            "id",
            format!(
                "No response with id `{response_id}` is stored on this server; `id` must be the `id` \
                 of a finished completion (also sent as its `x-request-id` header)"
            ),
        )),
        FeedbackOutcome::Failed(message) => Err(ApiError::storage(format!(
            "The feedback could not be stored: {message}"
        ))),
    }
}

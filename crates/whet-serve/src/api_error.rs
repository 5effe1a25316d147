//! Errors answered to clients, in OpenAI's format:
//! `{"error": {"message", "type", "param", "code"}}` with the matching HTTP status, so the
//! `openai` client raises its usual exception classes (`BadRequestError`, `NotFoundError`,
//! `AuthenticationError`, `RateLimitError`, ...). `code` values are stable; clients may match
//! on them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client is asked to wait after a 429.
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's error `type`: `invalid_request_error`, `authentication_error`, ...
    pub kind: &'static str,
    /// The request parameter at fault, when there is one.
    pub param: Option<String>,
    pub code: &'static str,
}

impl ApiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 400: a value the server cannot use (`param` names it).
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_value",
            message,
        )
        .with_param(param)
    }

    /// 400: a guardrail refused the prompt (blocked content, a prompt-injection attempt);
    /// `code` is `content_filter`, as `finish_reason` is when an answer is cut.
    pub fn content_filter(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "content_filter",
            message,
        )
        .with_param(param)
    }

    /// 400: a guardrail's length limit (`param` names the request parameter).
    pub fn guardrail_limit(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "guardrail_limit",
            message,
        )
        .with_param(param)
    }

    /// 409: the request conflicts with the server's state (`code` says how).
    pub fn conflict(code: &'static str, param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "invalid_request_error", code, message).with_param(param)
    }

    /// 403: an adapter path outside the configured `adapter_dirs`.
    pub fn path_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "adapter_path_not_allowed",
            message,
        )
        .with_param("path")
    }

    /// 400: the body is not JSON.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            message,
        )
    }

    /// 400: a field has the wrong type or a required one is missing.
    pub fn invalid_type(param: Option<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_type",
            message,
        );
        e.param = param;
        e
    }

    /// 400: prompt plus `max_tokens` exceed the model's context (OpenAI's code for it).
    pub fn context_length(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "context_length_exceeded",
            message,
        )
        .with_param(param)
    }

    /// 401: no key or an unknown one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            message,
        )
    }

    /// 403: a valid key that may not use an administrative route.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "admin_key_required",
            message,
        )
    }

    /// 404: something named in the path or body does not exist (`code` says what).
    pub fn not_found(code: &'static str, param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            code,
            message,
        )
        .with_param(param)
    }

    /// 404: the requested model is not served here.
    pub fn model_not_found(name: &str, served: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("The model `{name}` does not exist on this server; served models: {served}"),
        )
        .with_param("model")
    }

    /// 404: no such route.
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_url",
            format!("Unknown request URL: {method} {path}"),
        )
    }

    /// 405: the route exists but not for this method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    /// 413: the body is over `max_request_bytes`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("The request body is larger than this server's limit of {limit} bytes"),
        )
    }

    /// 429: the queue is full.
    pub fn queue_full(max_queue: usize) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "queue_full",
            format!("The server is busy ({max_queue} requests already waiting); retry after {RETRY_AFTER_SECS} s"),
        )
    }

    /// 503: the engine is not running.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "engine_unavailable",
            "The generation engine is not running",
        )
    }

    /// 504: the request took longer than `request_timeout_secs`.
    pub fn timeout(secs: f64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            "timeout",
            format!("The request did not finish within this server's timeout of {secs} s"),
        )
    }

    /// 500: the feedback database refused a write.
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "feedback_store_failed",
            message,
        )
    }

    /// 500: generation failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "generation_failed",
            message,
        )
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

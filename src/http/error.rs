//! `ApiError`: the one place where errors become HTTP status codes. Every
//! error body has the same JSON shape `{"error": code, "message": text}`;
//! details of 5xx errors are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method (`Allow` says which).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// No or a bad API key.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key whose role is too low.
    #[error("{0}")]
    Forbidden(String),
    /// The request is well-formed HTTP but its content is invalid; every
    /// problem is listed.
    #[error("{message}")]
    Invalid {
        message: String,
        problems: Vec<crate::review::input::Problem>,
    },
    #[error("{0}")]
    Conflict(String),
    /// An upload that cannot be used; the validation report (if one was
    /// made) says why, feature by feature.
    #[error("{message}")]
    Rejected {
        status: u16,
        message: String,
        report: Option<serde_json::Value>,
    },
    #[error("{0}")]
    TooLarge(String),
    /// A request body with a `Content-Encoding` (compressed bodies are not
    /// accepted).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The client sent its request body too slowly; the connection is
    /// closed after this answer.
    #[error("{0}")]
    Timeout(String),
    /// The client's request rate is over its limit: retry after
    /// `retry_after_s` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: u64 },
    /// Still loading, or a dependency is down: retry later.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Rejected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Invalid { .. } => "invalid",
            ApiError::Conflict(_) => "conflict",
            ApiError::Rejected { status: 413, .. } => "too_large",
            ApiError::Rejected { status: 415, .. } => "unsupported_format",
            ApiError::Rejected { .. } => "invalid_upload",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Timeout(_) => "timeout",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<crate::tiles::TileError> for ApiError {
    fn from(e: crate::tiles::TileError) -> Self {
        match e {
            // Bad render options are the server's configuration, not the request.
            crate::tiles::TileError::Options(m) => ApiError::Internal(m),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::NotFound(m) => ApiError::NotFound(m),
            S::Conflict(m) => ApiError::Conflict(m),
            S::Closed => ApiError::Unavailable("the store is shut down".into()),
            // The database server is down or restarting: nothing was
            // written; the pool reconnects by itself.
            S::Unavailable(m) => {
                tracing::warn!(error = %m, "store unavailable");
                ApiError::Unavailable(
                    "the database is unavailable; nothing was recorded; retry shortly".into(),
                )
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::publish::PublishError> for ApiError {
    fn from(e: crate::publish::PublishError) -> Self {
        use crate::publish::PublishError as P;
        match e {
            P::Ingest(ie) => {
                let status = ie.http_status();
                if status >= 500 {
                    ApiError::Internal(ie.to_string())
                } else {
                    ApiError::Rejected {
                        status,
                        message: ie.to_string(),
                        report: None,
                    }
                }
            }
            P::Rejected { reason, report } => ApiError::Rejected {
                status: 422,
                message: format!("the upload cannot be published: {reason}"),
                report: serde_json::to_value(&report).ok(),
            },
            P::BadRequest(m) => ApiError::BadRequest(m),
            P::Config(c) => ApiError::BadRequest(c.to_string()),
            P::NotFound(m) => ApiError::NotFound(m),
            P::Conflict(m) => ApiError::Conflict(m),
            P::Store(s) => s.into(),
            P::Load(l) => ApiError::Rejected {
                status: 422,
                message: l.to_string(),
                report: None,
            },
            // A full disk or a failing write: nothing was published; retry
            // once the server's storage is fixed. Paths stay in the log.
            P::Io(path, e) => {
                tracing::error!(path = %path.display(), error = %e, "publish: storage error");
                ApiError::Unavailable(format!(
                    "could not store the version ({}); nothing was published",
                    e.kind()
                ))
            }
            P::Write(m) => {
                tracing::error!(error = %m, "publish: write error");
                ApiError::Unavailable(
                    "could not write the version file; nothing was published".into(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error; see the server log".to_string()
            }
            other => other.to_string(),
        };
        let mut body = json!({"error": self.code(), "message": message});
        if let ApiError::Invalid { problems, .. } = &self {
            body["problems"] = json!(problems);
        }
        if let ApiError::Rejected {
            report: Some(r), ..
        } = &self
        {
            body["report"] = r.clone();
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::TooManyRequests { retry_after_s, .. } = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tudi\""),
            );
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

//! The answers the gateway gives itself (as opposed to relaying the
//! source's): a status and a JSON body `{"error": code, "message": text,
//! "requestId": id}`. Messages never echo the path, query or a credential.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// Every refusal or failure of the gateway, with its status and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400 `invalid_path`.
    InvalidPath,
    /// 400 `bad_request`: the request body could not be read.
    BadRequest,
    /// 403 `dataset_not_allowed`.
    DatasetNotAllowed,
    /// 404 `not_found`: no dataset in the path, or (sync mode) a path below a dataset.
    NotFound,
    /// 405 `method_not_allowed`.
    MethodNotAllowed,
    /// 413 `body_too_large`.
    BodyTooLarge,
    /// 429 `rate_limited`, with `Retry-After` in seconds.
    RateLimited { retry_after_seconds: u64 },
    /// 502 `upstream_unreachable`: no connection to the source.
    UpstreamUnreachable,
    /// 502 `upstream_error`: the connection to the source failed mid-request.
    UpstreamError,
    /// 503 `credentials_unavailable`: the source credentials (or an OAuth2
    /// token) cannot be obtained.
    CredentialsUnavailable,
    /// 503 `no_snapshot`: sync mode, no complete snapshot of the dataset yet.
    NoSnapshot,
    /// 504 `upstream_timeout`.
    UpstreamTimeout,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    request_id: &'a str,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::InvalidPath | Refusal::BadRequest => StatusCode::BAD_REQUEST,
            Refusal::DatasetNotAllowed => StatusCode::FORBIDDEN,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::UpstreamUnreachable | Refusal::UpstreamError => StatusCode::BAD_GATEWAY,
            Refusal::CredentialsUnavailable | Refusal::NoSnapshot => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Refusal::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The stable code in the body's `error`.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidPath => "invalid_path",
            Refusal::BadRequest => "bad_request",
            Refusal::DatasetNotAllowed => "dataset_not_allowed",
            Refusal::NotFound => "not_found",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::UpstreamUnreachable => "upstream_unreachable",
            Refusal::UpstreamError => "upstream_error",
            Refusal::CredentialsUnavailable => "credentials_unavailable",
            Refusal::NoSnapshot => "no_snapshot",
            Refusal::UpstreamTimeout => "upstream_timeout",
        }
    }

    /// The human message in the body's `message`.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::InvalidPath => {
                "the path is not allowed: no '..', '.', '//', '\\', encoded '.', '/' or '\\', or control characters"
            }
            Refusal::BadRequest => "the request body could not be read",
            Refusal::DatasetNotAllowed => {
                "this dataset is not in the connector's datasets (spec.datasets of the DataConnector)"
            }
            Refusal::NotFound => "not found: call /<dataset> (sync mode serves /<dataset> only)",
            Refusal::MethodNotAllowed => "this method is not forwarded by the connector",
            Refusal::BodyTooLarge => "the request body is larger than the connector allows",
            Refusal::RateLimited { .. } => {
                "too many requests to the source; retry after Retry-After seconds"
            }
            Refusal::UpstreamUnreachable => "the source cannot be reached",
            Refusal::UpstreamError => "the connection to the source failed",
            Refusal::CredentialsUnavailable => {
                "the connector cannot authenticate to the source (its credentials are missing or refused)"
            }
            Refusal::NoSnapshot => "no complete snapshot of this dataset has been pulled yet",
            Refusal::UpstreamTimeout => "the source did not answer in time",
        }
    }

    /// The response, with the request id.
    pub fn response(self, request_id: &str) -> Response {
        let body = Body {
            error: self.code(),
            message: self.message(),
            request_id,
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response();
        if let Refusal::RateLimited {
            retry_after_seconds,
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
        response
    }
}

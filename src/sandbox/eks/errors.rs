//! EKS API errors as restJson1 clients expect them: the `x-amzn-errortype`
//! header, a `{"message": ...}` body, and the documented status code.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct EksError {
    pub kind: &'static str,
    pub status: u16,
    pub message: String,
}

impl EksError {
    pub fn not_found(message: impl Into<String>) -> Self {
        EksError {
            kind: "ResourceNotFoundException",
            status: 404,
            message: message.into(),
        }
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        EksError {
            kind: "InvalidParameterException",
            status: 400,
            message: message.into(),
        }
    }
    pub fn in_use(message: impl Into<String>) -> Self {
        EksError {
            kind: "ResourceInUseException",
            status: 409,
            message: message.into(),
        }
    }
}

impl IntoResponse for EksError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(json!({"message": self.message}))).into_response();
        resp.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        resp
    }
}

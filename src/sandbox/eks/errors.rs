//! EKS API errors as restJson1 clients expect them: the `x-amzn-errortype`
//! header, a `{"message": ...}` body (with `clusterName` where the API model
//! has it), and the documented status code.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct EksError {
    pub kind: &'static str,
    pub status: u16,
    pub message: String,
    /// Set for the exceptions whose shape carries it (InvalidRequest,
    /// InvalidState, ResourceInUse, ...).
    pub cluster_name: Option<String>,
}

impl EksError {
    fn new(kind: &'static str, status: u16, message: impl Into<String>) -> Self {
        EksError {
            kind,
            status,
            message: message.into(),
            cluster_name: None,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", 404, message)
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", 400, message)
    }
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new("ResourceInUseException", 409, message)
    }
    /// The request is invalid given the state of the cluster.
    pub fn invalid_request(cluster: &str, message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", 400, message).for_cluster(cluster)
    }
    /// Readiness insights report ERROR and `force` was not set.
    pub fn invalid_state(cluster: &str, message: impl Into<String>) -> Self {
        Self::new("InvalidStateException", 400, message).for_cluster(cluster)
    }
    /// The tagging operations' own error types.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new("BadRequestException", 400, message)
    }
    pub fn tag_not_found(message: impl Into<String>) -> Self {
        Self::new("NotFoundException", 404, message)
    }

    fn for_cluster(mut self, cluster: &str) -> Self {
        self.cluster_name = Some(cluster.to_string());
        self
    }
}

impl IntoResponse for EksError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut body = json!({"message": self.message});
        if let Some(c) = self.cluster_name {
            body["clusterName"] = json!(c);
        }
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        resp
    }
}

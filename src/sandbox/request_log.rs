//! Every request the sandbox served, in order, so tests can prove what a
//! client did (e.g. that a dry run sent no mutation). Never holds headers or
//! bodies: credentials cannot leak through it.

use std::sync::Mutex;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Api {
    Eks,
    Kube,
    Sandbox,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RequestRecord {
    pub seq: u64,
    pub api: Api,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Whether the request would change state (dry runs and reads do not).
    pub mutating: bool,
    pub status: u16,
    /// The EKS error type of a rejected EKS request
    /// (`InvalidParameterException`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub sim_time_ms: u64,
}

#[derive(Default)]
pub struct RequestLog {
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    pub fn push(&self, mut record: RequestRecord) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        record.seq = records.len() as u64 + 1;
        records.push(record);
    }

    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

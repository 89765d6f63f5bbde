//! Idempotency tokens. EKS returns the same update for a repeated
//! `clientRequestToken`, so a retried run (same run id) never starts a
//! second update for the same action.

use sha2::{Digest, Sha256};

/// The token of one action: stable for (run, step, action index).
pub fn request_token(run_id: &str, step_id: &str, index: usize) -> String {
    derive(&format!("{run_id}\0{step_id}"), &index.to_string())
}

/// A sub-token for the n-th request of a compound action (a rotation issues
/// several EKS mutations).
pub fn derive(base: &str, part: &str) -> String {
    let digest = Sha256::digest(format!("{base}\0{part}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_distinct() {
        let a = request_token("run-1", "control-plane", 0);
        assert_eq!(a, request_token("run-1", "control-plane", 0));
        assert_eq!(a.len(), 32);
        assert_ne!(a, request_token("run-1", "control-plane", 1));
        assert_ne!(a, request_token("run-2", "control-plane", 0));
        assert_ne!(derive(&a, "config"), derive(&a, "version"));
    }
}

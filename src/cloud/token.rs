//! Sub-tokens of idempotency tokens. An action's own token is
//! `durable::ActionKey::client_request_token` (one source of truth: the
//! journal records it with the intent); a compound action (a rotation issues
//! several EKS mutations) derives one per request from it.

use sha2::{Digest, Sha256};

/// The token of the `part` request of the action whose token is `base`.
pub fn derive(base: &str, part: &str) -> String {
    let digest = Sha256::digest(format!("{base}\0{part}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_tokens_are_stable_and_distinct() {
        let a = "0f3c2a1e-1111-2222-3333-444455556666";
        assert_eq!(derive(a, "config"), derive(a, "config"));
        assert_eq!(derive(a, "config").len(), 32);
        assert_ne!(derive(a, "config"), derive(a, "version"));
        assert_ne!(derive(a, "config"), derive("other", "config"));
    }
}

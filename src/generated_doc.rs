//! Docs generated from code (`docs/actions.md`, `docs/diagnostics.md`) must
//! match the code: one freshness check that can also rewrite them.

/// Fails when `docs/<name>` differs from `want`; `UPDATE_DOCS=1` rewrites it first.
pub(crate) fn assert_fresh(name: &str, want: &str) {
    let path = format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/{name} is stale: regenerate with `UPDATE_DOCS=1 cargo test`"
    );
}

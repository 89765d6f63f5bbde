//! Static checking of a loaded program: every finding is a `Diagnostic` with a
//! code from `codes`.

pub mod codes;
pub mod suggest;

//! The interpreter: evaluates a checked program against the cloud adapters.

pub mod dispatch;
pub mod records;
pub mod value;

//! Static checking of a loaded program (wired in once the AST is merged).

pub mod codes;
pub mod suggest;

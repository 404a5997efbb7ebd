//! mtls-headers: a proxy-wasm HTTP filter that strips client-supplied identity headers and injects the verified
//! client certificate's identity (see README.md and the header contract there).
//!
//! Everything but `proxy` is plain Rust, tested natively; `proxy` is the thin proxy-wasm layer.

pub mod cache;
pub mod cert;
pub mod config;
pub mod filter;
pub mod headers;
pub mod host;
pub mod json;
#[cfg(target_arch = "wasm32")]
mod proxy;

/// Crate version and the git commit it was built from (build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MTLS_HEADERS_GIT_HASH"), ")");

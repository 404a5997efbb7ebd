//! mtls-headers: a proxy-wasm HTTP filter that strips client-supplied identity headers and injects the verified
//! client certificate's identity (see README.md and the header contract there).
//!
//! The logic is the host-neutral core (`src/core`, crate `mtls_headers_core`); this crate is its proxy-wasm
//! adapter: `host` (the boundary every host call goes through), `catalog` (the attributes read, declared once),
//! `peer` (each host's certificate facts), `adapter` (decide, then apply), and `proxy` (the ABI, Wasm only).

pub mod adapter;
pub mod catalog;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod host;
pub mod peer;
#[cfg(target_arch = "wasm32")]
mod proxy;
// Public only to the fuzz targets (fuzz/fuzz_targets/xfcc.rs): a client may forge this header, so its parser is
// fuzzed on its own, not only behind the digest check that guards it in `peer`.
#[cfg(feature = "test-support")]
pub mod xfcc;
#[cfg(not(feature = "test-support"))]
mod xfcc;

/// Crate version and the git commit it was built from (build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MTLS_HEADERS_GIT_HASH"), ")");

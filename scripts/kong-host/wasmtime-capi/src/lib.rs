//! Re-exports the Wasmtime C API so `cargo build` emits its `extern "C"` symbols in one static library.
pub use wasmtime_c_api::*;

//! mtls-headers' host-neutral core: configuration, the certificate model, and the request decision as a value.
//!
//! No host calls and no proxy-wasm: a host adapter (src/ beside this crate) tells [`decide`] what the request and
//! the peer are, in host-neutral terms, and applies the [`Decision`] it gets back.

pub mod budget;
pub mod cache;
pub mod cert;
pub mod config;
pub mod decision;
pub mod formats;
pub mod headers;
pub mod json;
pub mod metrics;
pub mod output;
pub mod policy;
pub mod registry;
pub mod sign;

pub use decision::{
    decide, details, scan, Action, Certs, Decision, Level, Peer, Presented, Reply, Scan, SetHeader, State,
};

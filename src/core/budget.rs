//! A size budget for the injected headers (README, "Size budget"): upstreams refuse large headers (8 KB a line is
//! common: gunicorn's `limit_request_field_size` 8190, nginx's `large_client_header_buffers` 8k; Node.js refuses more
//! than 16 KiB of headers in all). Over budget, whole headers are dropped in a fixed order and a flag header names
//! them; a value is never truncated.

use std::rc::Rc;

use crate::config::{Config, Field, Gcp};
use crate::decision::SetHeader;

/// Names the headers the budget dropped, `, `-separated. Owned by every configuration.
pub const FLAG: &str = "x-mtls-headers-dropped";

pub const DEFAULT_HEADER_BYTES: usize = 8192;
pub const DEFAULT_TOTAL_BYTES: usize = 16384;

/// A header's size on an HTTP/1.1 request: `name: value` and CRLF.
fn size(h: &SetHeader) -> usize {
    h.name.len() + h.value.len() + 4
}

/// What may go, in the order it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// The presented chain: RFC 9440's `Client-Cert-Chain`, XFCC's `Chain=` pair. Dropped first.
    Chain,
    /// The certificate itself, in any encoding, XFCC's `Cert=` pair: largest first (the hash fields stay).
    Body,
    /// Every other certificate-derived value: DNs, attributes, SANs, dates.
    Detail,
    /// The verdict, hashes, serials, static values and the token: never dropped.
    Kept,
}

fn class(field: &Field, value: &str) -> Class {
    match field {
        Field::ClientCertChainRfc9440 => Class::Chain,
        Field::Xfcc if xfcc_pair(value, XFCC_CHAIN).is_some() => Class::Chain,
        Field::CertDerBase64
        | Field::CertPemUrlencoded
        | Field::ClientCertRfc9440
        | Field::AlbLeaf
        | Field::Gcp(Gcp::Leaf)
        | Field::Xfcc => Class::Body,
        Field::Verify
        | Field::Validated
        | Field::Present
        | Field::Static(_)
        | Field::ValidateToken
        | Field::Gcp(Gcp::Present | Gcp::ChainVerified | Gcp::Error | Gcp::Sha256Fingerprint | Gcp::SerialNumber)
        | Field::Fingerprint(..)
        | Field::X5tS256
        | Field::PinSha256
        | Field::Serial
        | Field::SerialDecimal
        | Field::SerialColon => Class::Kept,
        _ => Class::Detail,
    }
}

const XFCC_CHAIN: &[u8] = b";Chain=\"";
const XFCC_CERT: &[u8] = b";Cert=\"";

/// Where XFCC's `;Chain="…"` or `;Cert="…"` pair is (start, end). Their URL-encoded PEM holds no `"`.
fn xfcc_pair(value: &str, key: &[u8]) -> Option<(usize, usize)> {
    let bytes = value.as_bytes();
    let start = bytes.windows(key.len()).position(|w| w == key)?;
    let end = start + key.len() + 1 + bytes.get(start + key.len()..)?.iter().position(|b| *b == b'"')?;
    Some((start, end))
}

/// XFCC without its `Chain=` pair (class `Chain`) or else its `Cert=` pair (most of what is left), and the suffix
/// that names what went: `Hash` and the rest stay (Envoy writes the same element without `chain` or `cert` in
/// `set_current_client_cert_details`).
fn xfcc_shrunk(value: &str) -> Option<(String, &'static str)> {
    let (pair, what) = match xfcc_pair(value, XFCC_CHAIN) {
        Some(pair) => (pair, ":chain"),
        None => (xfcc_pair(value, XFCC_CERT)?, ":cert"),
    };
    Some(([value.get(..pair.0)?, value.get(pair.1..)?].concat(), what))
}

/// Fits `set` into the budget; the names of the dropped headers, if any, in the order they went.
pub fn apply(cfg: &Config, set: &mut Vec<SetHeader>) -> Vec<Rc<str>> {
    let mut dropped = Vec::new();
    let field_of = |name: &str| cfg.mappings.iter().find(|m| &*m.name == name).map(|m| &m.field);
    let class_of = |h: &SetHeader| field_of(&h.name).map(|f| class(f, &h.value));
    let mut total: usize = set.iter().map(size).sum();
    if total <= cfg.max_total_bytes && set.iter().all(|h| size(h) <= cfg.max_header_bytes) {
        return dropped;
    }
    for class_now in [Class::Chain, Class::Body, Class::Detail] {
        loop {
            // Over its own budget first, then the largest while the total is over.
            let over_header = set.iter().position(|h| size(h) > cfg.max_header_bytes && class_of(h) == Some(class_now));
            let pick = over_header.or_else(|| {
                (total > cfg.max_total_bytes)
                    .then(|| {
                        set.iter()
                            .enumerate()
                            .filter(|(_, h)| class_of(h) == Some(class_now))
                            .max_by_key(|(_, h)| size(h))
                            .map(|(i, _)| i)
                    })
                    .flatten()
            });
            let Some(i) = pick else { break };
            let Some(h) = set.get(i).cloned() else { break };
            total -= size(&h);
            match xfcc_shrunk(&h.value).filter(|_| field_of(&h.name) == Some(&Field::Xfcc)) {
                Some((shorter, what)) => {
                    let shorter = SetHeader { name: Rc::clone(&h.name), value: shorter.into() };
                    total += size(&shorter);
                    if let Some(slot) = set.get_mut(i) {
                        *slot = shorter;
                    }
                    dropped.push(format!("{}{what}", h.name).into());
                }
                None => {
                    set.remove(i);
                    dropped.push(Rc::clone(&h.name));
                }
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, len: usize) -> SetHeader {
        SetHeader { name: name.into(), value: "v".repeat(len).into() }
    }

    fn cfg(json: &str) -> Config {
        Config::parse(json.as_bytes(), &|_| None).unwrap()
    }

    #[test]
    fn bodies_go_first_largest_first_then_details_and_never_the_verdict_or_hash() {
        let c = cfg(r#"{"max_header_bytes":1000,"max_total_bytes":2000,"headers":{"x-der":"cert_der_base64",
            "x-pem":"cert_pem_urlencoded","x-dn":"subject_dn","x-san":"san_dns","x-hash":"fingerprint_sha256",
            "x-verify":"verify"}}"#);
        let mut set = vec![
            header("x-der", 900),
            header("x-pem", 950),
            header("x-dn", 600),
            header("x-san", 700),
            header("x-hash", 64),
            header("x-verify", 7),
        ];
        let dropped = apply(&c, &mut set);
        assert_eq!(dropped.iter().map(|d| &**d).collect::<Vec<_>>(), ["x-pem", "x-der"]);
        let names: Vec<&str> = set.iter().map(|h| &*h.name).collect();
        assert_eq!(names, ["x-dn", "x-san", "x-hash", "x-verify"]);
        let mut set = vec![header("x-dn", 1200), header("x-hash", 64), header("x-verify", 1500)];
        assert_eq!(apply(&c, &mut set).iter().map(|d| &**d).collect::<Vec<_>>(), ["x-dn"], "the verdict stays");
    }

    #[test]
    fn xfcc_loses_its_cert_and_keeps_the_hash() {
        let c = cfg(r#"{"preset":"envoy-xfcc","max_header_bytes":256}"#);
        let value = format!("Hash=ab;Cert=\"{}\";Subject=\"CN=a\";URI=", "%2B".repeat(100));
        let mut set = vec![SetHeader { name: "x-forwarded-client-cert".into(), value: value.into() }];
        assert_eq!(apply(&c, &mut set).iter().map(|d| &**d).collect::<Vec<_>>(), ["x-forwarded-client-cert:cert"]);
        assert_eq!(&*set[0].value, "Hash=ab;Subject=\"CN=a\";URI=");
    }

    #[test]
    fn the_chain_goes_before_any_certificate_body() {
        let c = cfg(r#"{"preset":"rfc9440","headers":{"x-xfcc":"envoy.xfcc"},"max_header_bytes":2000,
            "max_total_bytes":3000}"#);
        let xfcc = format!("Hash=ab;Cert=\"{}\";Chain=\"{}\";Subject=\"CN=a\";URI=", "a".repeat(900), "b".repeat(1800));
        let mut set = vec![
            header("client-cert", 950),
            header("client-cert-chain", 1200),
            SetHeader { name: "x-xfcc".into(), value: xfcc.into() },
        ];
        let dropped = apply(&c, &mut set);
        assert_eq!(dropped.iter().map(|d| &**d).collect::<Vec<_>>(), ["x-xfcc:chain", "client-cert-chain"]);
        assert!(set.iter().any(|h| &*h.name == "client-cert"), "the leaf stays: within budget without the chain");
        assert!(set.iter().all(|h| !h.value.contains("Chain=")));
    }
}

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
    /// The certificate itself, in any encoding: dropped first, largest first (the hash fields stay).
    Body,
    /// Every other certificate-derived value: DNs, attributes, SANs, dates.
    Detail,
    /// The verdict, hashes, serials, static values and the token: never dropped.
    Kept,
}

fn class(field: &Field) -> Class {
    match field {
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

/// XFCC without its `Cert="…"` pair, which is most of it: `Hash` and the rest stay (Envoy writes the same element
/// without `cert` in `set_current_client_cert_details`). The URL-encoded PEM holds no `"`.
fn xfcc_without_cert(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let start = bytes.windows(7).position(|w| w == b";Cert=\"")?;
    let end = start + 8 + bytes.get(start + 7..)?.iter().position(|b| *b == b'"')?;
    Some([value.get(..start)?, value.get(end..)?].concat())
}

/// Fits `set` into the budget; the names of the dropped headers, if any, in the order they went.
pub fn apply(cfg: &Config, set: &mut Vec<SetHeader>) -> Vec<Rc<str>> {
    let mut dropped = Vec::new();
    let field_of = |name: &str| cfg.mappings.iter().find(|m| &*m.name == name).map(|m| &m.field);
    let mut total: usize = set.iter().map(size).sum();
    if total <= cfg.max_total_bytes && set.iter().all(|h| size(h) <= cfg.max_header_bytes) {
        return dropped;
    }
    for class_now in [Class::Body, Class::Detail] {
        loop {
            // Over its own budget first, then the largest while the total is over.
            let over_header = set
                .iter()
                .position(|h| size(h) > cfg.max_header_bytes && field_of(&h.name).map(class) == Some(class_now));
            let pick = over_header.or_else(|| {
                (total > cfg.max_total_bytes)
                    .then(|| {
                        set.iter()
                            .enumerate()
                            .filter(|(_, h)| field_of(&h.name).map(class) == Some(class_now))
                            .max_by_key(|(_, h)| size(h))
                            .map(|(i, _)| i)
                    })
                    .flatten()
            });
            let Some(i) = pick else { break };
            let Some(h) = set.get(i).cloned() else { break };
            total -= size(&h);
            match xfcc_without_cert(&h.value).filter(|_| field_of(&h.name) == Some(&Field::Xfcc)) {
                Some(shorter) => {
                    let shorter = SetHeader { name: Rc::clone(&h.name), value: shorter.into() };
                    total += size(&shorter);
                    if let Some(slot) = set.get_mut(i) {
                        *slot = shorter;
                    }
                    dropped.push(format!("{}:cert", h.name).into());
                    continue;
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
}

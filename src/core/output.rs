//! Outputs: what the upstream gets for a verdict. Today's output is the per-header mappings (presets and custom
//! `headers`); another (a single XFCC-style header, signed headers) is another renderer over the same verdict.

use std::rc::Rc;

use crate::cert::{self, dn, ClientCert};
use crate::config::{Config, Field};
use crate::decision::{Level, SetHeader, Verdict};
use crate::headers::is_header_safe;

/// What a verified certificate contributes to every request, computed once per certificate and configuration (the
/// configuration fixes the mappings): cached by the certificate's SHA-256.
#[derive(Debug)]
pub struct Identity {
    pub not_before: u64,
    pub not_after: u64,
    /// `trusted_issuers` is empty or lists the issuer DN.
    pub issuer_trusted: bool,
    /// The identity fields' headers, in mapping order; a field the certificate lacks has none.
    headers: Vec<SetHeader>,
}

impl Identity {
    pub fn new(cfg: &Config, cert: &ClientCert) -> Identity {
        let issuer_trusted = cfg.trusted_issuers.is_empty() || {
            let issuer = dn::rfc2253(&cert.issuer, false);
            cfg.trusted_issuers.contains(&issuer)
        };
        let headers = cfg
            .mappings
            .iter()
            .filter_map(|m| {
                let value = identity_value(&m.field, cert, cfg.utf8)?;
                Some(SetHeader { name: Rc::clone(&m.name), value: value.into() })
            })
            .collect();
        Identity { not_before: cert.not_before, not_after: cert.not_after, issuer_trusted, headers }
    }
}

const SUCCESS: &str = "SUCCESS";
const NONE: &str = "NONE";

/// The configured mappings' headers for a verdict, in mapping order. A value with a control character is never
/// sent (RFC 9110 section 5.5), and logged by header name only.
pub fn mappings(cfg: &Config, verdict: &Verdict, logs: &mut Vec<(Level, String)>) -> Vec<SetHeader> {
    let status: Rc<str> = match verdict {
        Verdict::Verified(_) => SUCCESS.into(),
        Verdict::Unverified(reason) => format!("FAILED:{reason}").into(),
        Verdict::NoCert => NONE.into(),
        Verdict::Unreadable => return Vec::new(),
    };
    // The identity's headers are in mapping order: one pass over both.
    let mut identity = match verdict {
        Verdict::Verified(id) => id.headers.iter().peekable(),
        _ => [].iter().peekable(),
    };
    let mut out = Vec::with_capacity(cfg.mappings.len());
    for m in &cfg.mappings {
        let value = match &m.field {
            Field::Verify => Rc::clone(&status),
            Field::Static(v) => Rc::clone(v),
            Field::ValidateToken => match &cfg.validate_token {
                Some(t) => t.shared(),
                None => continue,
            },
            _ => match identity.next_if(|h| h.name == m.name) {
                Some(h) => Rc::clone(&h.value),
                None => continue,
            },
        };
        if !is_header_safe(value.as_bytes()) {
            logs.push((Level::Warn, format!("not sending {}: value has control characters", m.name)));
            continue;
        }
        out.push(SetHeader { name: Rc::clone(&m.name), value });
    }
    out
}

/// SANs of one kind, each rendered so it holds no `,` (cert::san_text, cert::ip_text), joined with `,`.
fn join(items: &[Vec<u8>], render: fn(&[u8]) -> String) -> Option<String> {
    if items.is_empty() {
        None
    } else {
        Some(items.iter().map(|item| render(item)).collect::<Vec<_>>().join(","))
    }
}

/// The value of a certificate field; `None` when the certificate has no such value (the header is then not sent)
/// or the field does not describe the certificate.
pub fn identity_value(field: &Field, c: &ClientCert, utf8: bool) -> Option<String> {
    match field {
        Field::SubjectDn => Some(dn::rfc2253(&c.subject, utf8)),
        Field::IssuerDn => Some(dn::rfc2253(&c.issuer, utf8)),
        Field::SubjectDnLegacy => Some(dn::legacy(&c.subject)),
        Field::IssuerDnLegacy => Some(dn::legacy(&c.issuer)),
        Field::SubjectAttr(oid) => dn::attribute(&c.subject, oid, utf8),
        Field::IssuerAttr(oid) => dn::attribute(&c.issuer, oid, utf8),
        Field::Serial => Some(c.serial_hex()),
        Field::FingerprintSha1 => Some(cert::hex_lower(&c.sha1)),
        Field::FingerprintSha256 => Some(cert::hex_lower(&c.sha256)),
        Field::CertDerBase64 => Some(c.der_base64()),
        Field::CertPemUrlencoded => Some(cert::url_encode(&c.pem())),
        Field::ClientCertRfc9440 => Some(format!(":{}:", c.der_base64())),
        Field::NotBefore => Some(cert::openssl_time(c.not_before)),
        Field::NotAfter => Some(cert::openssl_time(c.not_after)),
        Field::SanDns => join(&c.sans.dns, cert::san_text),
        Field::SanUri => join(&c.sans.uri, cert::san_text),
        Field::SanEmail => join(&c.sans.email, cert::san_text),
        Field::SanIp => join(&c.sans.ip, cert::ip_text),
        Field::SpiffeId => c.spiffe_id(),
        Field::Validated => Some("1".to_string()),
        Field::Verify | Field::Static(_) | Field::ValidateToken => None,
    }
}

//! Outputs: what the upstream gets for a verdict. Today's output is the per-header mappings (presets and custom
//! `headers`); another (a single XFCC-style header, signed headers) is another renderer over the same verdict.

use std::cell::OnceCell;
use std::rc::Rc;

use crate::cert::{self, dn, ClientCert};
use base64ct::{Base64, Base64UrlUnpadded, Encoding};

use crate::config::{Bound, Bytes, Config, Digest, Field, Gcp, TimeForm};
use crate::decision::{Level, SetHeader, Verdict};
use crate::formats;
use crate::headers::is_header_safe;
use crate::policy;
use crate::sign;

/// What a verified certificate contributes to every request, computed once per certificate and configuration (the
/// configuration fixes the mappings): cached by the certificate's SHA-256.
#[derive(Debug)]
pub struct Identity {
    pub not_before: u64,
    pub not_after: u64,
    /// `trusted_issuers` is empty or lists the issuer DN.
    pub issuer_trusted: bool,
    /// What `policy::static_failure` says about this certificate.
    pub policy_failure: Option<&'static str>,
    /// With `sign`: the signature's header part for this identity's headers, made on its first request.
    pub sign_prefix: OnceCell<sign::Prefix>,
    /// The identity fields' headers, in mapping order; a field the certificate lacks has none.
    headers: Vec<SetHeader>,
}

impl Identity {
    /// `chain`: the certificates presented after `cert`, where the host gives them ([`crate::Certs`]).
    /// A value with a control character is never sent (RFC 9110 section 5.5), and logged by header name only.
    pub fn new(
        cfg: &Config,
        cert: &ClientCert,
        chain: Option<&[Vec<u8>]>,
        logs: &mut Vec<(Level, String)>,
    ) -> Identity {
        let issuer_trusted = cfg.trusted_issuers.is_empty() || {
            let issuer = dn::rfc2253(&cert.issuer, false);
            cfg.trusted_issuers.contains(&issuer)
        };
        let headers = cfg
            .mappings
            .iter()
            .filter_map(|m| {
                let value = identity_value(&m.field, cert, chain, cfg.utf8)?;
                if !is_header_safe(value.as_bytes()) {
                    logs.push((Level::Warn, unsafe_value(&m.name)));
                    return None;
                }
                Some(SetHeader { name: Rc::clone(&m.name), value: value.into() })
            })
            .collect();
        let policy_failure = policy::static_failure(&cfg.trusted_spiffe_domains, &cfg.san_allow, cert);
        Identity {
            not_before: cert.not_before,
            not_after: cert.not_after,
            issuer_trusted,
            policy_failure,
            sign_prefix: OnceCell::new(),
            headers,
        }
    }
}

const SUCCESS: &str = "SUCCESS";
const NONE: &str = "NONE";

fn unsafe_value(name: &str) -> String {
    format!("not sending {name}: value has control characters")
}

/// The configured mappings' headers for a verdict, in mapping order. The identity's values were checked when it
/// was made, static values and the token when the configuration was read: only `FAILED:<reason>` is checked here.
pub fn mappings(cfg: &Config, verdict: &Verdict, logs: &mut Vec<(Level, String)>) -> Vec<SetHeader> {
    let (status, presented): (Rc<str>, bool) = match verdict {
        Verdict::Verified(_) => (SUCCESS.into(), true),
        Verdict::Unverified(reason) => (format!("FAILED:{reason}").into(), true),
        Verdict::NoCert => (NONE.into(), false),
        Verdict::Unreadable => return Vec::new(),
    };
    let status_safe = is_header_safe(status.as_bytes());
    // The identity's headers are in mapping order: one pass over both.
    let mut identity = match verdict {
        Verdict::Verified(id) => id.headers.iter().peekable(),
        _ => [].iter().peekable(),
    };
    let mut out = Vec::with_capacity(cfg.mappings.len());
    for m in &cfg.mappings {
        let value = match &m.field {
            Field::Verify if !status_safe => {
                logs.push((Level::Warn, unsafe_value(&m.name)));
                continue;
            }
            Field::Verify => Rc::clone(&status),
            Field::Present => if presented { "1" } else { "0" }.into(),
            Field::Gcp(Gcp::Present) => gcp_bool(presented),
            Field::Gcp(Gcp::ChainVerified) => gcp_bool(matches!(verdict, Verdict::Verified(_))),
            // Verified: the certificate's own errors (sizes over Google's limits), if any.
            Field::Gcp(Gcp::Error) if !matches!(verdict, Verdict::Verified(_)) => match verdict {
                Verdict::NoCert => formats::GCP_NOT_PROVIDED.into(),
                _ => formats::GCP_VALIDATION_FAILED.into(),
            },
            Field::Static(v) => Rc::clone(v),
            Field::ValidateToken => match &cfg.validate_token {
                Some(t) => t.shared(),
                None => continue,
            },
            // The identity's headers share the mappings' names (`Identity::new`): a pointer compare.
            _ => match identity.next_if(|h| Rc::ptr_eq(&h.name, &m.name)) {
                Some(h) => Rc::clone(&h.value),
                None => continue,
            },
        };
        out.push(SetHeader { name: Rc::clone(&m.name), value });
    }
    out
}

fn gcp_bool(b: bool) -> Rc<str> {
    if b { "true" } else { "false" }.into()
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
pub fn identity_value(field: &Field, c: &ClientCert, chain: Option<&[Vec<u8>]>, utf8: bool) -> Option<String> {
    match field {
        Field::SubjectDn => Some(dn::rfc2253(&c.subject, utf8)),
        Field::IssuerDn => Some(dn::rfc2253(&c.issuer, utf8)),
        Field::SubjectDnLegacy => Some(dn::legacy(&c.subject)),
        Field::IssuerDnLegacy => Some(dn::legacy(&c.issuer)),
        Field::SubjectAttr(oid, index) => dn::attribute(&c.subject, oid, *index, utf8),
        Field::IssuerAttr(oid, index) => dn::attribute(&c.issuer, oid, *index, utf8),
        Field::Serial => Some(c.serial_hex()),
        Field::SerialDecimal => Some(c.serial_decimal()),
        Field::SerialColon => Some(c.serial_colon()),
        Field::Fingerprint(digest, form) => {
            let bytes: &[u8] = match digest {
                Digest::Sha1 => &c.sha1,
                Digest::Sha256 => &c.sha256,
            };
            Some(match form {
                Bytes::Hex => cert::hex_lower(bytes),
                Bytes::ColonHex => cert::hex_colon(bytes),
                Bytes::Base64 => Base64::encode_string(bytes),
            })
        }
        Field::X5tS256 => Some(Base64UrlUnpadded::encode_string(&c.sha256)),
        Field::PinSha256 => Some(Base64::encode_string(&c.spki_sha256)),
        Field::CertDerBase64 => Some(c.der_base64()),
        Field::CertPemUrlencoded => Some(cert::url_encode(&c.pem())),
        Field::ClientCertRfc9440 => Some(format!(":{}:", c.der_base64())),
        // RFC 8941 section 3.1: list members separated by `, `. No member, no list: the header is not sent.
        Field::ClientCertChainRfc9440 => match chain {
            Some(items) if !items.is_empty() => {
                Some(items.iter().map(|der| format!(":{}:", Base64::encode_string(der))).collect::<Vec<_>>().join(", "))
            }
            _ => None,
        },
        Field::Time(bound, form) => {
            let t = match bound {
                Bound::NotBefore => c.not_before,
                Bound::NotAfter => c.not_after,
            };
            Some(match form {
                TimeForm::OpenSsl => cert::openssl_time(t),
                TimeForm::Rfc3339 => cert::rfc3339(t),
                TimeForm::Unix => t.to_string(),
            })
        }
        Field::SanDns => join(&c.sans.dns, cert::san_text),
        Field::SanUri => join(&c.sans.uri, cert::san_text),
        Field::SanEmail => join(&c.sans.email, cert::san_text),
        Field::SanIp => join(&c.sans.ip, cert::ip_text),
        Field::SanUpn => join(&c.sans.upn, cert::san_text),
        Field::SanDirName => {
            let names: Vec<Vec<u8>> = c.sans.dir_name.iter().map(|n| dn::rfc2253(n, utf8).into_bytes()).collect();
            join(&names, cert::san_text)
        }
        Field::SpiffeId => c.spiffe_id(),
        Field::AlbValidity => Some(formats::alb_validity(c)),
        Field::AlbLeaf => Some(formats::alb_leaf(c)),
        Field::TraefikInfo => Some(formats::traefik_info(c)),
        Field::Xfcc => Some(formats::xfcc(c, chain)),
        Field::Gcp(var) => formats::gcp(*var, c),
        Field::Validated => Some("1".to_string()),
        Field::Verify | Field::Present | Field::Static(_) | Field::ValidateToken => None,
    }
}

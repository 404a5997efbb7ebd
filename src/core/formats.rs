//! Header values in the formats other proxies and load balancers write, so an application moves behind the filter
//! unchanged. Each renderer cites its anchor; where the anchor's format is ambiguous or unsafe it does the safe thing,
//! and README.md (the presets) says how that differs.

use core::net::Ipv6Addr;

use base64ct::{Base64, Encoding};
use der::Encode;
use x509_cert::name::Name;

use crate::cert::{self, dn, percent_encode, ClientCert};

// ---------------------------------------------------------------------------------------------------------------
// AWS Application Load Balancer, mTLS verify mode (Elastic Load Balancing guide, "Mutual authentication with TLS",
// HTTP headers).

/// `X-Amzn-Mtls-Clientcert-Validity`: `NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z`.
pub fn alb_validity(c: &ClientCert) -> String {
    format!("NotBefore={};NotAfter={}", cert::rfc3339(c.not_before), cert::rfc3339(c.not_after))
}

/// `X-Amzn-Mtls-Clientcert-Leaf`: "URL-encoded PEM format of the leaf certificate, with `+=/` as safe characters".
pub fn alb_leaf(c: &ClientCert) -> String {
    percent_encode(&c.pem(), b"-._~+=/")
}

// ---------------------------------------------------------------------------------------------------------------
// Traefik's passTLSClientCert middleware (pkg/middlewares/passtlsclientcert/pass_tls_client_cert.go).

/// Traefik leaves `,` `;` `"` inside a value as they are, so `O=Acme, Inc.` reads as two sub-fields: here they,
/// and `\`, get a backslash.
fn push_traefik_value(out: &mut String, value: &str) {
    for ch in value.chars() {
        if matches!(ch, '\\' | '"' | ',' | ';') {
            out.push('\\');
        }
        out.push(ch);
    }
}

/// Go's `pkix.Name` as Traefik writes it: every DC, C, ST, L, O, (subject only) OU in DER order, then the last
/// serialNumber as `SN` and the last CN (Go keeps only the last of those two).
fn traefik_name(name: &Name, with_ou: bool) -> String {
    // Traefik's labels are OpenSSL's short names, but for `SN`: serialNumber there (OpenSSL's `SN` is surname).
    let many: &[&str] = if with_ou { &["DC", "C", "ST", "L", "O", "OU"] } else { &["DC", "C", "ST", "L", "O"] };
    let texts = |short: &str| dn::attribute_oid(short).map(|oid| dn::texts(name, &oid)).unwrap_or_default();
    let mut parts: Vec<(&str, String)> = Vec::new();
    for label in many {
        parts.extend(texts(label).into_iter().map(|v| (*label, v)));
    }
    for (label, short) in [("SN", "serialNumber"), ("CN", "CN")] {
        if let Some(last) = texts(short).pop() {
            parts.push((label, last));
        }
    }
    let mut out = String::new();
    for (label, value) in parts.iter().filter(|(_, v)| !v.is_empty()) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(label);
        out.push('=');
        push_traefik_value(&mut out, value);
    }
    out
}

/// Go's `net.IP.String()`: an IPv4-mapped IPv6 address is printed as IPv4.
fn go_ip(octets: &[u8]) -> String {
    match <[u8; 16]>::try_from(octets).ok().map(Ipv6Addr::from).and_then(|v6| v6.to_ipv4_mapped()) {
        Some(v4) => v4.to_string(),
        None => cert::ip_text(octets),
    }
}

/// `X-Forwarded-Tls-Client-Cert-Info` for the leaf, every field enabled:
/// `Subject="…";Issuer="…";SerialNumber="…";NB="…";NA="…";SAN="…"` (empty fields left out), then Go's
/// `url.QueryEscape` of the whole (letters, digits and `-_.~` kept, space as `+`).
pub fn traefik_info(c: &ClientCert) -> String {
    let mut fields: Vec<String> = Vec::new();
    for (label, text) in [("Subject", traefik_name(&c.subject, true)), ("Issuer", traefik_name(&c.issuer, false))] {
        if !text.is_empty() {
            fields.push(format!("{label}=\"{text}\""));
        }
    }
    fields.push(format!("SerialNumber=\"{}\"", c.serial_decimal()));
    fields.push(format!("NB=\"{}\"", c.not_before));
    fields.push(format!("NA=\"{}\"", c.not_after));
    // DNS names, emails, IPs, URIs (Traefik's getSANs order).
    let text = |octets: &Vec<u8>| String::from_utf8_lossy(octets).into_owned();
    let sans: Vec<String> = c
        .sans
        .dns
        .iter()
        .chain(&c.sans.email)
        .map(text)
        .chain(c.sans.ip.iter().map(|ip| go_ip(ip)))
        .chain(c.sans.uri.iter().map(text))
        .map(|v| {
            let mut out = String::new();
            push_traefik_value(&mut out, &v);
            out
        })
        .collect();
    if !sans.is_empty() {
        fields.push(format!("SAN=\"{}\"", sans.join(",")));
    }
    query_escape(&fields.join(";"))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    percent_encode(s, b"-_.~ ").replace(' ', "+")
}

// ---------------------------------------------------------------------------------------------------------------
// Envoy's x-forwarded-client-cert (docs: HTTP header manipulation, x-forwarded-client-cert), as the connection
// manager writes it with `forward_client_cert_details: SANITIZE_SET` and `set_current_client_cert_details` subject,
// cert, uri and dns: `Hash=…;Cert="…";Subject="…";URI=…;DNS=…`.

/// An XFCC value: as it is when it holds none of `,;="\`, else double-quoted with `"` and `\` backslash-escaped
/// (Envoy's grammar asks for quotes around `,;=` and `\"` for a quote; Envoy itself writes URI and DNS SANs raw, so a
/// SAN holding `;` or `,` adds elements or fields there).
fn push_xfcc_value(out: &mut String, value: &str, always_quote: bool) {
    if !always_quote && !value.bytes().any(|b| matches!(b, b',' | b';' | b'=' | b'"' | b'\\')) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for ch in value.chars() {
        if matches!(ch, '"' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// The leaf's XFCC element. `Subject` is RFC 2253 (OpenSSL's escaped form, as Envoy prints it); SANs are encoded as
/// `san_dns` elements (`%`, `,`, space and bytes outside visible ASCII as `%XX`), so none is ever raw non-ASCII.
/// `Chain`, with `chain` (the certificates after the leaf), is every presented certificate's PEM, the leaf first, as
/// Envoy writes it. No `By`: that is the proxy's own certificate, which the filter is not told about.
pub fn xfcc(c: &ClientCert, chain: Option<&[Vec<u8>]>) -> String {
    let leaf = cert::url_encode(&c.pem());
    let mut out = format!("Hash={};Cert=", cert::hex_lower(&c.sha256));
    push_xfcc_value(&mut out, &leaf, true);
    if let Some(rest) = chain {
        // Percent-encoding goes byte by byte: the leaf's encoding, then the rest's, is the encoding of them all.
        let pems: String = rest.iter().map(|der| cert::der_to_pem(der)).collect();
        out.push_str(";Chain=");
        push_xfcc_value(&mut out, &(leaf + &cert::url_encode(&pems)), true);
    }
    out.push_str(";Subject=");
    push_xfcc_value(&mut out, &dn::rfc2253(&c.subject, false), true);
    if c.sans.uri.is_empty() {
        out.push_str(";URI=");
    }
    for (key, sans) in [("URI", &c.sans.uri), ("DNS", &c.sans.dns)] {
        for san in sans {
            out.push(';');
            out.push_str(key);
            out.push('=');
            push_xfcc_value(&mut out, &cert::san_text(san), false);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Google Cloud Application Load Balancer, mutual TLS custom request header variables (Cloud Load Balancing docs,
// "Create custom headers", mTLS variables), with their documented size limits: over its limit a variable is not
// sent (Google sends it empty) and `client_cert_error` names it.

/// The variables that describe the certificate (the others are the verdict's: `output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gcp {
    Present,
    ChainVerified,
    Error,
    Sha256Fingerprint,
    SerialNumber,
    SpiffeId,
    UriSans,
    DnsnameSans,
    ValidNotBefore,
    ValidNotAfter,
    IssuerDn,
    SubjectDn,
    Leaf,
}

/// `client_cert_error` values for a verdict (Google's statusDetails strings).
pub const GCP_NOT_PROVIDED: &str = "client_cert_not_provided";
pub const GCP_VALIDATION_FAILED: &str = "client_cert_validation_failed";

/// Each certificate variable: its limit in bytes and the error that names it when over.
fn gcp_limit(var: Gcp) -> Option<(usize, &'static str)> {
    match var {
        Gcp::SerialNumber => Some((50, "client_cert_serial_number_exceeded_size_limit")),
        Gcp::SpiffeId => Some((2048, "client_cert_spiffe_id_exceeded_size_limit")),
        Gcp::UriSans => Some((512, "client_cert_uri_sans_exceeded_size_limit")),
        Gcp::DnsnameSans => Some((512, "client_cert_dnsname_sans_exceeded_size_limit")),
        Gcp::IssuerDn => Some((512, "client_cert_issuer_dn_exceeded_size_limit")),
        Gcp::SubjectDn => Some((512, "client_cert_subject_dn_exceeded_size_limit")),
        Gcp::Leaf => Some((16 * 1024, "client_cert_validated_leaf_exceeded_size_limit")),
        _ => None,
    }
}

const GCP_CERT_VARS: [Gcp; 10] = [
    Gcp::Sha256Fingerprint,
    Gcp::SerialNumber,
    Gcp::SpiffeId,
    Gcp::UriSans,
    Gcp::DnsnameSans,
    Gcp::ValidNotBefore,
    Gcp::ValidNotAfter,
    Gcp::IssuerDn,
    Gcp::SubjectDn,
    Gcp::Leaf,
];

fn base64_list(items: &[&Vec<u8>]) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    Some(items.iter().map(|i| Base64::encode_string(i)).collect::<Vec<_>>().join(","))
}

fn name_der_base64(name: &Name) -> Option<String> {
    name.to_der().ok().map(|der| Base64::encode_string(&der))
}

/// A certificate variable before its limit. The leaf limit is on the DER, the others on the value.
fn gcp_raw(var: Gcp, c: &ClientCert) -> Option<(String, usize)> {
    let value = match var {
        Gcp::Sha256Fingerprint => Base64::encode_string(&c.sha256),
        Gcp::SerialNumber => c.serial_hex(),
        Gcp::SpiffeId => c.spiffe_id()?,
        // Google lists the SPIFFE ID in its own variable, not among the URI SANs.
        Gcp::UriSans => {
            let spiffe = c.spiffe_id().is_some();
            base64_list(&c.sans.uri.iter().filter(|_| !spiffe).collect::<Vec<_>>())?
        }
        Gcp::DnsnameSans => base64_list(&c.sans.dns.iter().collect::<Vec<_>>())?,
        Gcp::ValidNotBefore => cert::rfc3339_offset(c.not_before),
        Gcp::ValidNotAfter => cert::rfc3339_offset(c.not_after),
        Gcp::IssuerDn => name_der_base64(&c.issuer)?,
        Gcp::SubjectDn => name_der_base64(&c.subject)?,
        Gcp::Leaf => return Some((format!(":{}:", c.der_base64()), c.der.len())),
        Gcp::Present | Gcp::ChainVerified | Gcp::Error => return None,
    };
    let len = value.len();
    Some((value, len))
}

/// A certificate variable's value; `None` when the certificate has none or it is over its limit.
pub fn gcp(var: Gcp, c: &ClientCert) -> Option<String> {
    if var == Gcp::Error {
        let over: Vec<&str> = GCP_CERT_VARS
            .iter()
            .filter_map(|v| match (gcp_raw(*v, c), gcp_limit(*v)) {
                (Some((_, len)), Some((limit, error))) if len > limit => Some(error),
                _ => None,
            })
            .collect();
        return (!over.is_empty()).then(|| over.join(","));
    }
    let (value, len) = gcp_raw(var, c)?;
    match gcp_limit(var) {
        Some((limit, _)) if len > limit => None,
        _ => Some(value),
    }
}

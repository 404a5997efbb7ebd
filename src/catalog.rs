//! Every host attribute the filter reads, declared once: its name, and a typed decoder of the host's bytes. What
//! each host answers, measured per version, is in README.md ("Envoy versions") and kong/README.md.

use mtls_headers_core::cert::{self, pem_to_der, CertError};

use crate::host::{Host, HostError};

/// One attribute: its dotted name (proxy-wasm passes the segments NUL-separated) and how its value reads.
pub struct Attribute<T: 'static> {
    pub name: &'static str,
    decode: fn(&[u8]) -> Result<T, Malformed>,
}

// By hand: a derive would require `T: Copy`, and the struct holds only a name and a fn pointer.
impl<T> Clone for Attribute<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Attribute<T> {}

/// Why an attribute could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeError {
    Host(&'static str, HostError),
    Malformed(&'static str, Malformed),
}

/// What is wrong with an attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The value breaks the host's own contract.
    Value(&'static str),
    Cert(CertError),
}

impl core::fmt::Display for AttributeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AttributeError::Host(name, e) => write!(f, "host error reading {name}: {e}"),
            AttributeError::Malformed(_, Malformed::Cert(e)) => write!(f, "client certificate: {e}"),
            AttributeError::Malformed(name, Malformed::Value(why)) => {
                write!(f, "inconsistent host answer: {name} {why}")
            }
        }
    }
}

impl<T> Attribute<T> {
    /// `Ok(None)` when the host says it does not exist or it is empty (ngx_wasm_module answers an empty nginx
    /// variable as "not found"; proxy-wasm SDK 0.2.5 reads an empty value as absent).
    pub fn read(self, host: &dyn Host) -> Result<Option<T>, AttributeError> {
        match host.property(self.name) {
            Err(e) => Err(AttributeError::Host(self.name, e)),
            Ok(None) => Ok(None),
            Ok(Some(v)) if v.is_empty() => Ok(None),
            Ok(Some(v)) => (self.decode)(&v).map(Some).map_err(|m| AttributeError::Malformed(self.name, m)),
        }
    }
}

// Envoy attributes: https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes
// Values are binary: bool is one byte, strings raw bytes.
pub const ENVOY_MTLS: Attribute<bool> = Attribute { name: "connection.mtls", decode: envoy_bool };
/// Envoy 1.39 and later.
pub const ENVOY_PEER_CERTIFICATE_VALID: Attribute<bool> =
    Attribute { name: "connection.peer_certificate_valid", decode: envoy_bool };
pub const ENVOY_SHA256_PEER_DIGEST: Attribute<[u8; 32]> =
    Attribute { name: "connection.sha256_peer_certificate_digest", decode: digest };
/// The DER of the presented certificate; Envoy 1.38 and later.
pub const ENVOY_PEER_CERTIFICATE: Attribute<Vec<u8>> =
    Attribute { name: "connection.peer_certificate", decode: property_pem_to_der };
/// Set by Envoy's connection manager under `forward_client_cert_details: SANITIZE_SET`.
pub const XFCC_HEADER: &str = "x-forwarded-client-cert";

// ngx_wasm_module: `ngx.<variable>` reads any nginx variable, always as a string; an empty variable is "not found".
/// nginx `$ssl_client_verify`: `SUCCESS`, `NONE` or `FAILED:<reason>` (nginx ngx_http_ssl_module docs).
pub const NGX_SSL_CLIENT_VERIFY: Attribute<NgxVerify> = Attribute { name: "ngx.ssl_client_verify", decode: ngx_verify };
/// The PEM, as nginx encodes it on every read; kept as bytes (a keep-alive request compares them with the last).
pub const NGX_SSL_CLIENT_RAW_CERT: Attribute<Vec<u8>> = Attribute { name: "ngx.ssl_client_raw_cert", decode: bytes };
/// nginx's `$nginx_version`: set on every request, plain HTTP included, so it tells ngx_wasm_module apart from Envoy
/// (where `ngx.*` is "not found") before anything else is read.
pub const NGX_NGINX_VERSION: Attribute<()> = Attribute { name: "ngx.nginx_version", decode: present };
/// nginx's `$connection`: the connection's serial number, from a counter shared by the workers and never reused
/// while they run (ngx_event_accept), so it names one TLS session for every request on it, HTTP/2 streams included.
pub const NGX_CONNECTION: Attribute<u64> = Attribute { name: "ngx.connection", decode: decimal };

/// Envoy bool: exactly one byte, 0 or 1.
fn envoy_bool(v: &[u8]) -> Result<bool, Malformed> {
    match v {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(Malformed::Value("is not one byte 0/1")),
    }
}

fn digest(v: &[u8]) -> Result<[u8; 32], Malformed> {
    cert::hex_decode_32(v).ok_or(Malformed::Value("is not 64 hex digits"))
}

/// Envoy 1.40 gives plain PEM (its docs say URL-encoded; both are accepted).
fn property_pem_to_der(pem: &[u8]) -> Result<Vec<u8>, Malformed> {
    if pem.starts_with(b"-----BEGIN") {
        return pem_to_der(pem).map_err(Malformed::Cert);
    }
    let decoded = cert::url_decode(pem).ok_or(Malformed::Cert(CertError::Pem("bad URL encoding")))?;
    pem_to_der(&decoded).map_err(Malformed::Cert)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NgxVerify {
    Success,
    None,
    Failed(String),
}

fn ngx_verify(v: &[u8]) -> Result<NgxVerify, Malformed> {
    match v {
        b"SUCCESS" => Ok(NgxVerify::Success),
        b"NONE" => Ok(NgxVerify::None),
        other => match other.strip_prefix(b"FAILED:") {
            // nginx writes OpenSSL's verify error text (`X509_verify_cert_error_string`) or its OCSP status: printable
            // ASCII. Anything else (a tab, a non-UTF-8 byte) is no answer nginx gives, and would go on in `verify`.
            Some(reason) if reason.iter().all(|b| (0x20..=0x7e).contains(b)) => {
                Ok(NgxVerify::Failed(String::from_utf8_lossy(reason).into_owned()))
            }
            Some(_) => Err(Malformed::Value("has a FAILED: reason that is not printable ASCII")),
            None => Err(Malformed::Value("is not SUCCESS, NONE or FAILED:<reason>")),
        },
    }
}

fn bytes(v: &[u8]) -> Result<Vec<u8>, Malformed> {
    Ok(v.to_vec())
}

fn decimal(v: &[u8]) -> Result<u64, Malformed> {
    let digits = core::str::from_utf8(v).ok().filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    digits.and_then(|d| d.parse().ok()).ok_or(Malformed::Value("is not a decimal number"))
}

fn present(_: &[u8]) -> Result<(), Malformed> {
    Ok(())
}

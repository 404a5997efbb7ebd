//! Everything that differs between hosts lives here: the [`Host`] trait every host call goes through, the property
//! paths (each named once), their encodings, and how each host says which certificate the client presented.

#[cfg(any(test, feature = "test-support"))]
pub mod fake;
// Public only to the fuzz targets (fuzz/fuzz_targets/xfcc.rs): a client may forge this header, so its parser is
// fuzzed on its own, not only behind the digest check that guards it in `read_peer`.
#[cfg(feature = "test-support")]
pub mod xfcc;
#[cfg(not(feature = "test-support"))]
mod xfcc;

use sha2::{Digest, Sha256};

use crate::cert::{pem_to_der, CertError};
use crate::config::{Config, HostKind, Source};

/// A host call that did not succeed. Carries the proxy-wasm status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Header pairs as owned bytes (names and values: a client can send a non-UTF-8 value).
pub type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

/// Request headers as the host hands them over: one buffer in the proxy-wasm map encoding (u32 count, then u32 key
/// and value lengths per pair, then each key and value followed by NUL), read in place. Every request reads the
/// whole map, so this saves two allocations per header.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    raw: Vec<u8>,
    count: usize,
}

impl Headers {
    /// Checks the encoding once; `None` for a malformed map (never a panic).
    pub fn from_map_bytes(raw: Vec<u8>) -> Option<Headers> {
        if raw.is_empty() {
            return Some(Headers::default());
        }
        let count = u32_at(&raw, 0)?;
        let mut data = count.checked_mul(8)?.checked_add(4)?;
        for i in 0..count {
            for len in [u32_at(&raw, 4 + i * 8)?, u32_at(&raw, 8 + i * 8)?] {
                data = data.checked_add(len)?.checked_add(1)?;
            }
        }
        (data <= raw.len()).then_some(Headers { raw, count })
    }

    pub fn from_pairs(pairs: &[(Vec<u8>, Vec<u8>)]) -> Headers {
        let mut raw = Vec::new();
        let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        raw.extend_from_slice(&len32(pairs.len()));
        for (k, v) in pairs {
            raw.extend_from_slice(&len32(k.len()));
            raw.extend_from_slice(&len32(v.len()));
        }
        for (k, v) in pairs {
            raw.extend_from_slice(k);
            raw.push(0);
            raw.extend_from_slice(v);
            raw.push(0);
        }
        Headers { raw, count: pairs.len() }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// (name, value) pairs in the host's order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut data = self.count.saturating_mul(8).saturating_add(4);
        (0..self.count).map_while(move |i| {
            let (k, v) = (u32_at(&self.raw, 4 + i * 8)?, u32_at(&self.raw, 8 + i * 8)?);
            let name = self.raw.get(data..data + k)?;
            data += k + 1;
            let value = self.raw.get(data..data + v)?;
            data += v + 1;
            Some((name, value))
        })
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = <[u8; 4]>::try_from(bytes.get(at..at.checked_add(4)?)?).ok()?;
    usize::try_from(u32::from_le_bytes(b)).ok()
}

/// The host calls the filter needs, nothing more. The proxy-wasm implementation is in `proxy.rs`; tests use
/// `fake::FakeHost`.
pub trait Host {
    /// `Ok(None)` when the host says the property does not exist (or it is empty: SDK 0.2.5 reads an empty value as
    /// absent).
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError>;
    fn request_headers(&self) -> Result<Headers, HostError>;
    /// Removes every value of the header (host matching is case-insensitive).
    fn remove_request_header(&mut self, name: &str) -> Result<(), HostError>;
    /// Sets the header to exactly this one value.
    fn set_request_header(&mut self, name: &str, value: &[u8]) -> Result<(), HostError>;
    /// `details`: why, for the host's logs (Envoy's `%RESPONSE_CODE_DETAILS%`).
    fn send_local_reply(&mut self, status: u32, details: &str, body: &[u8]) -> Result<(), HostError>;
    /// Ends the HTTP stream without a reply (`proxy_close_stream`).
    fn close_stream(&mut self) -> Result<(), HostError>;
    /// Seconds since the Unix epoch, from the host clock.
    fn now_unix(&self) -> Result<u64, HostError>;
    fn log(&self, level: Level, message: &str);
}

// Envoy attributes: https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes
// Values are binary: bool is one byte, strings raw bytes.
pub const ENVOY_PEER_CERTIFICATE: &[&str] = &["connection", "peer_certificate"];
pub const ENVOY_PEER_CERTIFICATE_VALID: &[&str] = &["connection", "peer_certificate_valid"];
pub const ENVOY_SHA256_PEER_DIGEST: &[&str] = &["connection", "sha256_peer_certificate_digest"];
pub const ENVOY_MTLS: &[&str] = &["connection", "mtls"];
/// Set by Envoy's connection manager under `forward_client_cert_details: SANITIZE_SET`.
pub const XFCC_HEADER: &str = "x-forwarded-client-cert";

// ngx_wasm_module: `ngx.<variable>` reads any nginx variable, always as a string; an empty variable is "not found".
pub const NGX_SSL_CLIENT_RAW_CERT: &[&str] = &["ngx", "ssl_client_raw_cert"];
pub const NGX_SSL_CLIENT_VERIFY: &[&str] = &["ngx", "ssl_client_verify"];
/// nginx's `$nginx_version`: set on every request, plain HTTP included, so it tells ngx_wasm_module apart from Envoy
/// (where `ngx.*` is "not found") before anything else is read.
pub const NGX_NGINX_VERSION: &[&str] = &["ngx", "nginx_version"];

/// What the host says about the client's certificate.
#[derive(Debug)]
pub enum Peer {
    /// No certificate was presented.
    None,
    /// Presented but not verified; the reason as in `FAILED:<reason>`.
    Unverified(String),
    Verified(PeerCert),
}

/// A verified certificate, known by its SHA-256 (the cache key). Its DER is read only when needed: on Envoy the
/// connection's digest property names the certificate, so a cache hit never copies or parses the PEM.
#[derive(Debug)]
pub struct PeerCert {
    pub sha256: [u8; 32],
    der: Option<Vec<u8>>,
    /// Kong: the PEM seen on the previous request, known to have this SHA-256 (decoded only on a cache miss).
    pem: Option<Vec<u8>>,
    source: Source,
}

/// What reading the peer remembers between requests of one VM.
#[derive(Debug, Default)]
pub struct PeerMemo {
    /// With `host: auto`, the host once a request has shown which it is.
    pub detected: Option<HostKind>,
    /// Kong gives the PEM on every request and no digest: the last PEM and its certificate's SHA-256, so a
    /// keep-alive connection's next request compares bytes instead of decoding and hashing.
    last_pem: Vec<u8>,
    last_sha256: [u8; 32],
    /// Envoy: whether `connection.peer_certificate` answered (absent before 1.38), once a certificate was read.
    envoy_peer_certificate: Option<bool>,
    /// Envoy: which way verification is judged has been logged (once per VM).
    verification_logged: bool,
}

impl PeerCert {
    /// The certificate's DER, whose SHA-256 is `self.sha256` (checked when read here). `headers` as for `read_peer`.
    pub fn der(self, host: &dyn Host, headers: &Headers, memo: &mut PeerMemo) -> Result<Vec<u8>, PeerError> {
        if let Some(der) = self.der {
            return Ok(der);
        }
        if let Some(pem) = self.pem {
            return pem_to_der(&pem).map_err(PeerError::Cert);
        }
        let der = envoy_peer_der(self.source, host, headers, memo)?;
        if <[u8; 32]>::from(Sha256::digest(&der)) != self.sha256 {
            return Err(PeerError::Inconsistent("the peer certificate does not match the connection's digest"));
        }
        Ok(der)
    }

    /// On an identity cache hit: what a miss would have required of this request, so the answer never depends on
    /// which listener of the VM saw the certificate first. Where Envoy's certificate comes from XFCC (`source:
    /// xfcc`, or `auto` on an Envoy without `connection.peer_certificate`), this request's own XFCC must carry it.
    pub fn confirm(&self, host: &dyn Host, headers: &Headers, memo: &PeerMemo) -> Result<(), PeerError> {
        let from_xfcc = self.der.is_none()
            && self.pem.is_none()
            && (self.source == Source::Xfcc
                || (self.source == Source::Auto && memo.envoy_peer_certificate != Some(true)));
        if from_xfcc {
            xfcc_cert(host, headers)?;
        }
        Ok(())
    }

    fn with_der(der: Vec<u8>) -> PeerCert {
        PeerCert { sha256: Sha256::digest(&der).into(), der: Some(der), pem: None, source: Source::Auto }
    }
}

/// The host's answer could not be trusted or understood: fail closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    Host(&'static str, HostError),
    Cert(CertError),
    /// A host answer that breaks the host's own contract.
    Inconsistent(&'static str),
    Xfcc(&'static str),
}

impl core::fmt::Display for PeerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PeerError::Host(what, e) => write!(f, "host error reading {what}: status {}", e.0),
            PeerError::Cert(e) => write!(f, "client certificate: {e}"),
            PeerError::Inconsistent(why) => write!(f, "inconsistent host answer: {why}"),
            PeerError::Xfcc(why) => write!(f, "x-forwarded-client-cert: {why}"),
        }
    }
}

fn prop(host: &dyn Host, path: &'static [&'static str]) -> Result<Option<Vec<u8>>, PeerError> {
    let v = host.property(path).map_err(|e| PeerError::Host(path_name(path), e))?;
    Ok(v.filter(|v| !v.is_empty()))
}

fn path_name(path: &[&str]) -> &'static str {
    match path {
        ["connection", "peer_certificate"] => "connection.peer_certificate",
        ["connection", "peer_certificate_valid"] => "connection.peer_certificate_valid",
        ["connection", "sha256_peer_certificate_digest"] => "connection.sha256_peer_certificate_digest",
        ["connection", "mtls"] => "connection.mtls",
        ["ngx", "ssl_client_raw_cert"] => "ngx.ssl_client_raw_cert",
        ["ngx", "ssl_client_verify"] => "ngx.ssl_client_verify",
        ["ngx", "nginx_version"] => "ngx.nginx_version",
        _ => "property",
    }
}

/// Envoy bool: exactly one byte, 0 or 1.
fn envoy_bool(v: &[u8]) -> Result<bool, PeerError> {
    match v {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(PeerError::Inconsistent("an Envoy bool property is not one byte 0/1")),
    }
}

/// Which host runs the filter, as far as is known: the configured one, or with `host: auto` the one this VM has
/// already shown, else one probe of `ngx.nginx_version` (remembered in `memo`: a VM runs in one host). `Auto` comes
/// back for a host that is not ngx_wasm_module and has not yet answered an Envoy property (an Envoy listener
/// without TLS); `read_peer` then settles it.
pub fn host_kind(cfg: &Config, host: &dyn Host, memo: &mut PeerMemo) -> Result<HostKind, PeerError> {
    match (cfg.host, memo.detected) {
        (HostKind::Auto, Some(known)) => Ok(known),
        (HostKind::Auto, None) => {
            if prop(host, NGX_NGINX_VERSION)?.is_some() {
                memo.detected = Some(HostKind::Kong);
                return Ok(HostKind::Kong);
            }
            Ok(HostKind::Auto)
        }
        (configured, _) => Ok(configured),
    }
}

/// Reads the client's certificate the way this host (`kind`, from [`host_kind`]) provides it. `headers` is the
/// request as received, before stripping (Envoy's XFCC may itself be configured as owned and stripped). On
/// ngx_wasm_module only `ngx.*` variables are read: the `connection.*` certificate properties are not implemented
/// there, and each read of one logs an error (kong/README.md).
pub fn read_peer(
    cfg: &Config,
    kind: HostKind,
    host: &dyn Host,
    headers: &Headers,
    memo: &mut PeerMemo,
) -> Result<Peer, PeerError> {
    match kind {
        HostKind::Kong => read_ngx(host, memo),
        HostKind::Envoy => read_envoy(cfg, host, headers, memo).map(|(peer, _)| peer),
        HostKind::Auto => {
            let (peer, envoy) = read_envoy(cfg, host, headers, memo)?;
            if envoy {
                memo.detected = Some(HostKind::Envoy);
            }
            Ok(peer)
        }
    }
}

fn read_ngx(host: &dyn Host, memo: &mut PeerMemo) -> Result<Peer, PeerError> {
    match prop(host, NGX_SSL_CLIENT_VERIFY)? {
        // Plain HTTP, or TLS without `ssl_verify_client`: nginx leaves the variable empty.
        None => Ok(Peer::None),
        Some(verify) => read_ngx_with(host, &verify, memo),
    }
}

/// nginx `$ssl_client_verify`: `SUCCESS`, `NONE` or `FAILED:<reason>` (nginx ngx_http_ssl_module docs).
fn read_ngx_with(host: &dyn Host, verify: &[u8], memo: &mut PeerMemo) -> Result<Peer, PeerError> {
    match verify {
        b"NONE" => Ok(Peer::None),
        b"SUCCESS" => {
            let pem = prop(host, NGX_SSL_CLIENT_RAW_CERT)?
                .ok_or(PeerError::Inconsistent("ssl_client_verify is SUCCESS but ssl_client_raw_cert is empty"))?;
            if !memo.last_pem.is_empty() && memo.last_pem == pem {
                let sha256 = memo.last_sha256;
                return Ok(Peer::Verified(PeerCert { sha256, der: None, pem: Some(pem), source: Source::Auto }));
            }
            let cert = PeerCert::with_der(pem_to_der(&pem).map_err(PeerError::Cert)?);
            memo.last_sha256 = cert.sha256;
            memo.last_pem = pem;
            Ok(Peer::Verified(cert))
        }
        other => match other.strip_prefix(b"FAILED:") {
            // nginx writes OpenSSL's verify error text (`X509_verify_cert_error_string`) or its OCSP status: printable
            // ASCII. Anything else (a tab, a non-UTF-8 byte) is no answer nginx gives, and would go on in `verify`.
            Some(reason) if reason.iter().all(|b| (0x20..=0x7e).contains(b)) => {
                Ok(Peer::Unverified(String::from_utf8_lossy(reason).into_owned()))
            }
            Some(_) => {
                Err(PeerError::Inconsistent("ssl_client_verify has a FAILED: reason that is not printable ASCII"))
            }
            None => Err(PeerError::Inconsistent("unknown ssl_client_verify value")),
        },
    }
}

/// Also says whether an Envoy-only property answered (the host is then known to be Envoy).
fn read_envoy(
    cfg: &Config,
    host: &dyn Host,
    headers: &Headers,
    memo: &mut PeerMemo,
) -> Result<(Peer, bool), PeerError> {
    let source = cfg.source;
    // The connection's digest names the certificate and says one was presented: with it, the PEM is read only on
    // a cache miss (PeerCert::der, which checks it against the digest). One read instead of two on the hot path.
    let digest = match source {
        Source::Xfcc => None,
        Source::Property | Source::Auto => prop(host, ENVOY_SHA256_PEER_DIGEST)?,
    };
    if digest.is_none() {
        match prop(host, ENVOY_MTLS)? {
            Some(v) if envoy_bool(&v)? => {}
            Some(_) => return Ok((Peer::None, true)),
            None => return Ok((Peer::None, false)),
        }
    }
    // `connection.peer_certificate_valid` (Envoy 1.39+) is the only per-request sign of a chain that failed
    // verification on an ACCEPT_UNTRUSTED listener. Without it (1.36-1.38) a presented certificate may be one
    // nobody verified: it counts as verified only when the operator says the listener refuses unverified ones.
    match prop(host, ENVOY_PEER_CERTIFICATE_VALID)? {
        Some(valid) => {
            log_verification_once(host, memo, "connection.peer_certificate_valid, read per request");
            if !envoy_bool(&valid)? {
                return Ok((Peer::Unverified("certificate verification failed".to_string()), true));
            }
        }
        None if cfg.assume_verified_by_listener => log_verification_once(
            host,
            memo,
            "no connection.peer_certificate_valid (Envoy before 1.39): every presented certificate counts as \
             verified (assume_verified_by_listener)",
        ),
        None => {
            log_verification_once(
                host,
                memo,
                "no connection.peer_certificate_valid (Envoy before 1.39): no certificate counts as verified \
                 unless assume_verified_by_listener is set (README: Envoy before 1.39)",
            );
            return Ok((Peer::Unverified(UNKNOWN_VERIFICATION.to_string()), true));
        }
    }
    if let Some(digest) = digest {
        let sha256 = crate::cert::hex_decode_32(&digest)
            .ok_or(PeerError::Inconsistent("connection.sha256_peer_certificate_digest is not 64 hex digits"))?;
        return Ok((Peer::Verified(PeerCert { sha256, der: None, pem: None, source }), true));
    }
    Ok((Peer::Verified(PeerCert::with_der(envoy_peer_der(source, host, headers, memo)?)), true))
}

/// The `FAILED:` reason on an Envoy that cannot say whether the certificate was verified.
pub const UNKNOWN_VERIFICATION: &str = "verification status unavailable";

fn log_verification_once(host: &dyn Host, memo: &mut PeerMemo, how: &str) {
    if !memo.verification_logged {
        memo.verification_logged = true;
        host.log(Level::Info, &format!("client certificate verification: {how}"));
    }
}

/// The presented certificate's DER on Envoy: `connection.peer_certificate`, or XFCC's `Cert=` (source `xfcc`, or
/// `auto` on an Envoy without that property).
fn envoy_peer_der(
    source: Source,
    host: &dyn Host,
    headers: &Headers,
    memo: &mut PeerMemo,
) -> Result<Vec<u8>, PeerError> {
    if source == Source::Xfcc {
        return xfcc_cert(host, headers);
    }
    let pem = prop(host, ENVOY_PEER_CERTIFICATE)?;
    memo.envoy_peer_certificate = Some(pem.is_some());
    match pem {
        // Envoy 1.40 gives plain PEM (its docs say URL-encoded; accept both).
        Some(pem) => property_pem_to_der(&pem),
        None if source == Source::Auto => xfcc_cert(host, headers),
        None => Err(PeerError::Inconsistent("connection.mtls is set but connection.peer_certificate is absent")),
    }
}

fn property_pem_to_der(pem: &[u8]) -> Result<Vec<u8>, PeerError> {
    if pem.starts_with(b"-----BEGIN") {
        return pem_to_der(pem).map_err(PeerError::Cert);
    }
    let decoded = crate::cert::url_decode(pem).ok_or(PeerError::Cert(CertError::Pem("bad URL encoding")))?;
    pem_to_der(&decoded).map_err(PeerError::Cert)
}

/// XFCC's `Cert=`, accepted only when its SHA-256 equals the connection's certificate digest, so a client-forged
/// XFCC (or a SAN that injects fields into it) can never supply the certificate.
fn xfcc_cert(host: &dyn Host, headers: &Headers) -> Result<Vec<u8>, PeerError> {
    let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(XFCC_HEADER.as_bytes()));
    let value = values.next().ok_or(PeerError::Xfcc("absent (forward_client_cert_details: SANITIZE_SET?)"))?;
    if values.next().is_some() {
        return Err(PeerError::Xfcc("more than one header"));
    }
    let pem = xfcc::single_cert(value.1).map_err(PeerError::Xfcc)?;
    let der = pem_to_der(&pem).map_err(PeerError::Cert)?;
    let digest = prop(host, ENVOY_SHA256_PEER_DIGEST)?
        .ok_or(PeerError::Inconsistent("connection.sha256_peer_certificate_digest is absent"))?;
    let actual = crate::cert::hex_lower(&Sha256::digest(&der));
    if !digest.eq_ignore_ascii_case(actual.as_bytes()) {
        return Err(PeerError::Xfcc("Cert= does not match the connection's certificate digest"));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::Headers;

    #[test]
    fn header_map_round_trip_and_truncation() {
        let mut b = vec![2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0];
        b.extend_from_slice(b"a\0bc\0de\0\xe9\0");
        let m = Headers::from_map_bytes(b.clone()).unwrap();
        let pairs: Vec<(&[u8], &[u8])> = m.iter().collect();
        assert_eq!(pairs, vec![(b"a".as_slice(), b"bc".as_slice()), (b"de".as_slice(), b"\xe9".as_slice())]);
        let owned = vec![(b"a".to_vec(), b"bc".to_vec()), (b"de".to_vec(), vec![0xe9])];
        assert_eq!(Headers::from_pairs(&owned).iter().collect::<Vec<_>>(), pairs);
        for cut in 1..b.len() {
            assert!(Headers::from_map_bytes(b[..cut].to_vec()).is_none(), "{cut}");
        }
        assert!(Headers::from_map_bytes(vec![255, 255, 255, 255]).is_none());
        assert!(Headers::from_map_bytes(Vec::new()).unwrap().is_empty());
    }
}

//! How each host says which certificate the client presented, in the core's terms ([`Peer`]): Envoy's
//! `connection.*` properties (or the XFCC Envoy itself set), ngx_wasm_module's `ngx.ssl_client_*` variables.

use mtls_headers_core::cert::{pem_chain_to_der, pem_to_der, sha256, url_decode, CertError};
use mtls_headers_core::config::{Config, HostKind, Source};
use mtls_headers_core::{Certs, Peer, Presented};

use crate::catalog::{
    AttributeError, NgxVerify, ENVOY_MTLS, ENVOY_PEER_CERTIFICATE, ENVOY_PEER_CERTIFICATE_VALID,
    ENVOY_SHA256_PEER_DIGEST, NGX_CONNECTION, NGX_NGINX_VERSION, NGX_SSL_CLIENT_RAW_CERT, NGX_SSL_CLIENT_VERIFY,
    XFCC_HEADER,
};
use crate::host::{Headers, Host, Level};
use crate::xfcc;

/// The host's answer could not be trusted or understood: fail closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    Attribute(AttributeError),
    Cert(CertError),
    /// A host answer that breaks the host's own contract.
    Inconsistent(&'static str),
    Xfcc(&'static str),
}

impl From<AttributeError> for PeerError {
    fn from(e: AttributeError) -> PeerError {
        PeerError::Attribute(e)
    }
}

impl core::fmt::Display for PeerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PeerError::Attribute(e) => e.fmt(f),
            PeerError::Cert(e) => write!(f, "client certificate: {e}"),
            PeerError::Inconsistent(why) => write!(f, "inconsistent host answer: {why}"),
            PeerError::Xfcc(why) => write!(f, "x-forwarded-client-cert: {why}"),
        }
    }
}

/// What reading the peer remembers between requests of one VM.
#[derive(Debug, Default)]
pub struct PeerMemo {
    /// With `host: auto`, the host once a request has shown which it is.
    detected: Option<HostKind>,
    /// Kong gives the PEM on every request and no digest: the last PEM and its certificate's SHA-256, so a
    /// keep-alive connection's next request compares bytes instead of decoding and hashing.
    last_pem: Vec<u8>,
    last_sha256: [u8; 32],
    /// Envoy: whether `connection.peer_certificate` answered (absent before 1.38), once a certificate was read.
    envoy_peer_certificate: Option<bool>,
    /// Envoy: which way verification is judged has been logged (once per VM).
    verification_logged: bool,
    /// Envoy, with a chain configured: the last XFCC `Chain=` (URL-encoded), the leaf it was checked to start with,
    /// and the identity cache key for both, so the next request with the same bytes decodes nothing.
    last_chain: Vec<u8>,
    last_chain_leaf: [u8; 32],
    last_chain_key: [u8; 32],
    /// Envoy: that no chain is given has been logged (once per VM).
    no_chain_logged: bool,
    /// Kong: connections (nginx `$connection`) whose certificate nginx verified, with its SHA-256, most recent last.
    /// A TLS connection's client certificate and its verification cannot change (nginx refuses renegotiation, and
    /// has no TLS 1.3 post-handshake authentication), so a later request on one reads neither again.
    verified_connections: Vec<(u64, [u8; 32])>,
}

/// How many verified connections a VM remembers: about the keep-alive connections one worker serves at once; a
/// forgotten one costs its next request the two reads.
const VERIFIED_CONNECTIONS: usize = 256;

impl PeerMemo {
    pub fn detected(&self) -> Option<HostKind> {
        self.detected
    }
}

/// A verified certificate: its SHA-256, and where its DER comes from when the identity cache misses; with a chain,
/// the chain and the cache key that names both.
pub struct PeerCert<'a> {
    sha256: [u8; 32],
    der: Der<'a>,
    chain: Option<([u8; 32], Chain<'a>)>,
}

/// The certificates presented after the leaf.
enum Chain<'a> {
    Known(Vec<Vec<u8>>),
    /// XFCC's `Chain=` as the last request had it, already checked: decoded only on a miss.
    Encoded(&'a [u8]),
}

enum Der<'a> {
    Known(Vec<u8>),
    /// Kong: the PEM, known to hold the certificate of this SHA-256 (decoded only on a miss).
    Pem(Vec<u8>),
    /// Kong, a connection already verified: `ngx.ssl_client_raw_cert`, read only on a miss and checked against the
    /// SHA-256 remembered for the connection.
    Ngx(&'a dyn Host),
    /// Envoy: `connection.peer_certificate`, read only on a miss and checked against the connection's digest.
    Envoy {
        source: Source,
        host: &'a dyn Host,
        headers: &'a Headers,
    },
}

impl Presented for PeerCert<'_> {
    type Error = PeerError;

    fn key(&self) -> [u8; 32] {
        self.chain.as_ref().map_or(self.sha256, |(key, _)| *key)
    }

    fn der(self) -> Result<Certs, PeerError> {
        let chain = match self.chain {
            None => None,
            Some((_, Chain::Known(rest))) => Some(rest),
            Some((_, Chain::Encoded(encoded))) => Some(decode_chain(encoded, self.sha256)?),
        };
        // A certificate read only now must be the one the key was made from.
        let same = |der: Vec<u8>, why: &'static str| {
            if sha256(&der) == self.sha256 {
                Ok(der)
            } else {
                Err(PeerError::Inconsistent(why))
            }
        };
        let leaf = match self.der {
            Der::Known(der) => der,
            Der::Pem(pem) => pem_to_der(&pem).map_err(PeerError::Cert)?,
            Der::Ngx(host) => {
                let pem = NGX_SSL_CLIENT_RAW_CERT
                    .read(host)?
                    .ok_or(PeerError::Inconsistent("a verified connection's ssl_client_raw_cert is empty"))?;
                same(pem_to_der(&pem).map_err(PeerError::Cert)?, "a verified connection's certificate changed")?
            }
            Der::Envoy { source, host, headers } => same(
                envoy_peer_der(source, host, headers, None)?,
                "the peer certificate does not match the connection's digest",
            )?,
        };
        Ok(Certs { leaf, chain })
    }
}

impl PeerCert<'_> {
    fn with_der(der: Vec<u8>) -> PeerCert<'static> {
        PeerCert { sha256: sha256(&der), der: Der::Known(der), chain: None }
    }
}

/// Which host runs the filter, as far as is known: the configured one, or with `host: auto` the one this VM has
/// already shown, else one probe of `ngx.nginx_version` (remembered: a VM runs in one host). `Auto` comes back for
/// a host that is not ngx_wasm_module and has not yet answered an Envoy property (an Envoy listener without TLS);
/// `read` then settles it.
pub fn host_kind(cfg: &Config, host: &dyn Host, memo: &mut PeerMemo) -> Result<HostKind, PeerError> {
    match (cfg.host, memo.detected) {
        (HostKind::Auto, Some(known)) => Ok(known),
        (HostKind::Auto, None) => {
            if NGX_NGINX_VERSION.read(host)?.is_some() {
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
pub fn read<'a>(
    cfg: &Config,
    kind: HostKind,
    host: &'a dyn Host,
    headers: &'a Headers,
    memo: &mut PeerMemo,
) -> Result<Peer<PeerCert<'a>>, PeerError> {
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

fn read_ngx<'a>(host: &'a dyn Host, memo: &mut PeerMemo) -> Result<Peer<PeerCert<'a>>, PeerError> {
    let connection = NGX_CONNECTION.read(host)?;
    if let Some(at) = connection.and_then(|n| memo.verified_connections.iter().rposition(|(c, _)| *c == n)) {
        let entry = memo.verified_connections.remove(at);
        memo.verified_connections.push(entry);
        return Ok(Peer::Verified(PeerCert { sha256: entry.1, der: Der::Ngx(host), chain: None }));
    }
    let peer = read_ngx_verification(host, memo)?;
    if let (Some(n), Peer::Verified(cert)) = (connection, &peer) {
        if memo.verified_connections.len() >= VERIFIED_CONNECTIONS {
            memo.verified_connections.remove(0);
        }
        memo.verified_connections.push((n, cert.sha256));
    }
    Ok(peer)
}

fn read_ngx_verification(host: &dyn Host, memo: &mut PeerMemo) -> Result<Peer<PeerCert<'static>>, PeerError> {
    match NGX_SSL_CLIENT_VERIFY.read(host)? {
        // Plain HTTP, or TLS without `ssl_verify_client`: nginx leaves the variable empty.
        None | Some(NgxVerify::None) => Ok(Peer::None),
        Some(NgxVerify::Failed(reason)) => Ok(Peer::Unverified(reason)),
        Some(NgxVerify::Success) => {
            let pem = NGX_SSL_CLIENT_RAW_CERT
                .read(host)?
                .ok_or(PeerError::Inconsistent("ssl_client_verify is SUCCESS but ssl_client_raw_cert is empty"))?;
            if !memo.last_pem.is_empty() && memo.last_pem == pem {
                return Ok(Peer::Verified(PeerCert { sha256: memo.last_sha256, der: Der::Pem(pem), chain: None }));
            }
            let cert = PeerCert::with_der(pem_to_der(&pem).map_err(PeerError::Cert)?);
            memo.last_sha256 = cert.sha256;
            memo.last_pem = pem;
            Ok(Peer::Verified(cert))
        }
    }
}

/// Also says whether an Envoy-only property answered (the host is then known to be Envoy).
fn read_envoy<'a>(
    cfg: &Config,
    host: &'a dyn Host,
    headers: &'a Headers,
    memo: &mut PeerMemo,
) -> Result<(Peer<PeerCert<'a>>, bool), PeerError> {
    let source = cfg.source;
    // The connection's digest names the certificate and says one was presented: with it, the PEM is read only on
    // a cache miss (PeerCert::der, which checks it against the digest). One read instead of two on the hot path.
    let digest = match source {
        Source::Xfcc => None,
        Source::Property | Source::Auto => ENVOY_SHA256_PEER_DIGEST.read(host)?,
    };
    if digest.is_none() {
        match ENVOY_MTLS.read(host)? {
            Some(true) => {}
            Some(false) => return Ok((Peer::None, true)),
            None => return Ok((Peer::None, false)),
        }
    }
    // `connection.peer_certificate_valid` (Envoy 1.39+) is the only per-request sign of a chain that failed
    // verification on an ACCEPT_UNTRUSTED listener. Without it (1.36-1.38) a presented certificate may be one
    // nobody verified: it counts as verified only when the operator says the listener refuses unverified ones.
    match ENVOY_PEER_CERTIFICATE_VALID.read(host)? {
        Some(valid) => {
            log_verification_once(host, memo, "connection.peer_certificate_valid, read per request");
            if !valid {
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
    let cert = match digest {
        // The property will answer on a miss. A certificate from XFCC is read on every request, hit or miss, so the
        // answer never depends on which listener of the VM saw the certificate first: this request's own XFCC must
        // carry it.
        Some(sha256) if memo.envoy_peer_certificate == Some(true) => {
            PeerCert { sha256, der: Der::Envoy { source, host, headers }, chain: None }
        }
        Some(sha256) if source == Source::Property => {
            PeerCert { sha256, der: Der::Envoy { source, host, headers }, chain: None }
        }
        _ => PeerCert::with_der(envoy_peer_der(source, host, headers, Some(memo))?),
    };
    if digest.is_some_and(|d| d != cert.sha256) {
        return Err(PeerError::Inconsistent("the peer certificate does not match the connection's digest"));
    }
    let chain = if cfg.wants_chain() { envoy_chain(host, headers, cert.sha256, memo)? } else { None };
    Ok((Peer::Verified(PeerCert { chain, ..cert }), true))
}

/// The chain Envoy's connection manager writes in XFCC's `Chain=` (`set_current_client_cert_details.chain`): every
/// certificate the client presented, the leaf first. Taken only when that first one is this connection's, so a
/// client's own XFCC (passed on by a `forward_client_cert_details` that forwards) cannot name another leaf's chain.
/// `None` when XFCC has no `Chain=`; Envoy gives the chain no other way.
fn envoy_chain<'a>(
    host: &dyn Host,
    headers: &'a Headers,
    leaf: [u8; 32],
    memo: &mut PeerMemo,
) -> Result<Option<([u8; 32], Chain<'a>)>, PeerError> {
    let encoded = match one_xfcc(headers)? {
        Some(value) => xfcc::element(value).map_err(PeerError::Xfcc)?.chain,
        None => None,
    };
    let Some(encoded) = encoded else {
        if !memo.no_chain_logged {
            memo.no_chain_logged = true;
            host.log(
                Level::Info,
                "no presented chain: x-forwarded-client-cert has no Chain= (forward_client_cert_details: SANITIZE_SET \
                 with set_current_client_cert_details.chain); chain headers are not sent",
            );
        }
        return Ok(None);
    };
    if memo.last_chain_leaf == leaf && memo.last_chain == encoded {
        return Ok(Some((memo.last_chain_key, Chain::Encoded(encoded))));
    }
    let rest = decode_chain(encoded, leaf)?;
    // The encoded chain holds the leaf, checked above: its digest names both (and is no certificate's own digest).
    memo.last_chain_key = sha256(encoded);
    memo.last_chain_leaf = leaf;
    memo.last_chain = encoded.to_vec();
    Ok(Some((memo.last_chain_key, Chain::Known(rest))))
}

/// XFCC's `Chain=`: the certificates after the leaf, once its first is the leaf of this SHA-256.
fn decode_chain(encoded: &[u8], leaf: [u8; 32]) -> Result<Vec<Vec<u8>>, PeerError> {
    let pem = url_decode(encoded).ok_or(PeerError::Xfcc("Chain= is not URL-encoded"))?;
    let mut ders = pem_chain_to_der(&pem).map_err(PeerError::Cert)?.into_iter();
    match ders.next() {
        Some(first) if sha256(&first) == leaf => Ok(ders.collect()),
        _ => Err(PeerError::Xfcc("Chain= does not start with the connection's certificate")),
    }
}

/// The request's XFCC header, if any; more than one is never Envoy's own.
fn one_xfcc(headers: &Headers) -> Result<Option<&[u8]>, PeerError> {
    let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(XFCC_HEADER.as_bytes()));
    let value = values.next();
    if values.next().is_some() {
        return Err(PeerError::Xfcc("more than one header"));
    }
    Ok(value.map(|(_, v)| v))
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
/// `auto` on an Envoy without that property). `memo` learns whether the property answered.
fn envoy_peer_der(
    source: Source,
    host: &dyn Host,
    headers: &Headers,
    memo: Option<&mut PeerMemo>,
) -> Result<Vec<u8>, PeerError> {
    if source == Source::Xfcc {
        return xfcc_cert(host, headers);
    }
    let der = ENVOY_PEER_CERTIFICATE.read(host)?;
    if let Some(memo) = memo {
        memo.envoy_peer_certificate = Some(der.is_some());
    }
    match der {
        Some(der) => Ok(der),
        None if source == Source::Auto => xfcc_cert(host, headers),
        None => Err(PeerError::Inconsistent("connection.mtls is set but connection.peer_certificate is absent")),
    }
}

/// XFCC's `Cert=`, accepted only when its SHA-256 equals the connection's certificate digest, so a client-forged
/// XFCC (or a SAN that injects fields into it) can never supply the certificate.
fn xfcc_cert(host: &dyn Host, headers: &Headers) -> Result<Vec<u8>, PeerError> {
    let value = one_xfcc(headers)?.ok_or(PeerError::Xfcc("absent (forward_client_cert_details: SANITIZE_SET?)"))?;
    let encoded = xfcc::element(value)
        .map_err(PeerError::Xfcc)?
        .cert
        .ok_or(PeerError::Xfcc("no Cert= field (set_current_client_cert_details.cert)"))?;
    let pem = url_decode(encoded).ok_or(PeerError::Xfcc("Cert= is not URL-encoded"))?;
    let der = pem_to_der(&pem).map_err(PeerError::Cert)?;
    let digest = ENVOY_SHA256_PEER_DIGEST
        .read(host)?
        .ok_or(PeerError::Inconsistent("connection.sha256_peer_certificate_digest is absent"))?;
    if sha256(&der) != digest {
        return Err(PeerError::Xfcc("Cert= does not match the connection's certificate digest"));
    }
    Ok(der)
}

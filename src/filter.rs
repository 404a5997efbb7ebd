//! The request decision, free of proxy-wasm: strip, read the certificate, enforce, inject (SPEC, required behaviour).

use std::rc::Rc;

use crate::cache::Cache;
use crate::cert::{self, dn, ClientCert};
use crate::config::{Config, Field, HostKind, Mode};
use crate::headers::{is_header_safe, shown};
use crate::host::{host_kind, read_peer, Headers, Host, Level, Peer, PeerCert, PeerError, PeerMemo};

/// What the proxy layer returns to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// A local reply was sent: the proxy layer must return `Action::Pause`.
    Replied,
    /// The local reply could not be sent, and the stream was closed instead (never forwarded, never left hanging).
    Closed,
}

/// Each local reply's details string (Envoy logs it as `%RESPONSE_CODE_DETAILS%`): one per reason.
pub mod details {
    pub const CERTIFICATE_REQUIRED: &str = "mtls_headers_certificate_required";
    pub const OWNED_HEADER_FROM_CLIENT: &str = "mtls_headers_owned_header_from_client";
    pub const OWNED_HEADER_NOT_UTF8: &str = "mtls_headers_owned_header_name_not_utf8";
    pub const HEADERS_UNREADABLE: &str = "mtls_headers_request_headers_unreadable";
    pub const HOST_UNKNOWN: &str = "mtls_headers_host_unknown";
    pub const STRIP_FAILED: &str = "mtls_headers_strip_failed";
    pub const INJECT_FAILED: &str = "mtls_headers_inject_failed";
    pub const NOT_CONFIGURED: &str = "mtls_headers_not_configured";
}

/// What a verified certificate contributes to every request, computed once per certificate and plugin (the
/// configuration fixes the mappings): cached by the certificate's SHA-256.
#[derive(Debug)]
pub struct Identity {
    not_before: u64,
    not_after: u64,
    /// `trusted_issuers` is empty or lists the issuer DN.
    issuer_trusted: bool,
    /// One per `cfg.mappings` entry: the identity field's value, `None` for a field the certificate lacks or that
    /// is not an identity field.
    values: Vec<Option<String>>,
}

impl Identity {
    pub fn new(cfg: &Config, cert: &ClientCert) -> Identity {
        let issuer_trusted = cfg.trusted_issuers.is_empty() || {
            let issuer = dn::rfc2253(&cert.issuer, false);
            cfg.trusted_issuers.contains(&issuer)
        };
        let values = cfg
            .mappings
            .iter()
            .map(|m| if m.field.is_identity() { identity_value(&m.field, cert, cfg.utf8) } else { None })
            .collect();
        Identity { not_before: cert.not_before, not_after: cert.not_after, issuer_trusted, values }
    }
}

pub type IdentityCache = Cache<Identity>;

/// What a plugin (root context) keeps across its requests.
pub struct State {
    pub cache: IdentityCache,
    pub peer: PeerMemo,
}

impl State {
    pub fn new(cache_capacity: usize) -> State {
        State { cache: IdentityCache::new(cache_capacity), peer: PeerMemo::default() }
    }
}

/// The certificate state headers are built from, after the configured policy.
enum Verdict {
    Verified(Rc<Identity>),
    NoCert,
    Unverified(String),
    /// Something went wrong reading or parsing: inject nothing at all.
    Error,
}

const INTERNAL_ERROR_BODY: &[u8] = b"internal error\n";
const OWNED_HEADER_BODY: &[u8] = b"bad request: client certificate headers must not come from the client\n";

pub fn on_request_headers(cfg: &Config, host: &mut dyn Host, state: &mut State) -> Outcome {
    // 1. Strip. If the header map cannot be read or a header cannot be removed, nothing is known to be clean:
    //    reply rather than forward.
    let headers = match host.request_headers() {
        Ok(h) => h,
        Err(e) => {
            host.log(Level::Error, &format!("cannot read request headers (status {})", e.0));
            return reply(host, 500, details::HEADERS_UNREADABLE, INTERNAL_ERROR_BODY);
        }
    };
    let kind = match host_kind(cfg, host, &mut state.peer) {
        Ok(kind) => kind,
        Err(e) => {
            host.log(Level::Error, &format!("cannot tell which host this is: {e}"));
            return reply(host, 500, details::HOST_UNKNOWN, INTERNAL_ERROR_BODY);
        }
    };
    if kind == HostKind::Kong {
        // ngx_wasm_module "removes" a request header by zeroing its hash in nginx's list; nginx's proxy module still
        // forwards such entries (measured: kong/README.md). No host call can keep a client's copy from the upstream,
        // so a request that still carries one is refused. Kong's pre-function plugin clears them before the chain
        // (kong/kong.yml), so legitimate traffic never gets here with one.
        if let Some((name, _)) = headers.iter().find(|(name, _)| cfg.owns(name)) {
            host.log(
                Level::Warn,
                &format!(
                    "refusing the request: it carries the owned header {}, which this host cannot remove \
                     (clear owned headers before the filter: kong/README.md)",
                    shown(name)
                ),
            );
            return reply(host, 400, details::OWNED_HEADER_FROM_CLIENT, OWNED_HEADER_BODY);
        }
    } else if let Some(outcome) = strip(cfg, host, &headers) {
        return outcome;
    }

    // 2. Read and judge the certificate.
    let verdict = match read_peer(cfg, kind, host, &headers, &mut state.peer) {
        Ok(Peer::None) => Verdict::NoCert,
        Ok(Peer::Unverified(reason)) => Verdict::Unverified(reason),
        Ok(Peer::Verified(cert)) => match identity(cfg, host, &headers, cert, state) {
            Ok(id) => match policy_failure(cfg, host, &id) {
                None => Verdict::Verified(id),
                Some(reason) => Verdict::Unverified(reason),
            },
            Err(e) => unreadable(host, &e),
        },
        Err(e) => unreadable(host, &e),
    };
    if let Verdict::Unverified(reason) = &verdict {
        host.log(Level::Debug, &format!("client certificate not verified: {reason}"));
    }

    // 3. Enforce.
    if cfg.mode == Mode::Required && !matches!(verdict, Verdict::Verified(_)) {
        return reply(host, cfg.reject_status, details::CERTIFICATE_REQUIRED, cfg.reject_body.as_bytes());
    }

    // 4. Inject.
    if matches!(verdict, Verdict::Error) {
        return Outcome::Continue;
    }
    let id = match &verdict {
        Verdict::Verified(id) => Some(id.as_ref()),
        _ => None,
    };
    let failed;
    let status = match &verdict {
        Verdict::Verified(_) => "SUCCESS",
        Verdict::Unverified(reason) => {
            failed = format!("FAILED:{reason}");
            failed.as_str()
        }
        Verdict::NoCert | Verdict::Error => "NONE",
    };
    for (i, m) in cfg.mappings.iter().enumerate() {
        let value: Option<&str> = match (&m.field, id) {
            (Field::Verify, _) => Some(status),
            (Field::Static(v), _) => Some(v),
            (Field::ValidateToken, _) => cfg.validate_token.as_ref().map(|t| t.expose()),
            (_, Some(id)) => id.values.get(i).and_then(Option::as_deref),
            (_, None) => None,
        };
        let Some(value) = value else { continue };
        if !is_header_safe(value.as_bytes()) {
            host.log(Level::Warn, &format!("not sending {}: value has control characters", m.name));
            continue;
        }
        if let Err(e) = host.set_request_header(&m.name, value.as_bytes()) {
            // A half-written identity must not reach the upstream.
            host.log(Level::Error, &format!("cannot set header {} (status {})", m.name, e.0));
            return reply(host, 500, details::INJECT_FAILED, INTERNAL_ERROR_BODY);
        }
    }
    Outcome::Continue
}

/// Removes every owned header (every spelling and copy: the host removes case-insensitively); `Some` when the
/// request was answered instead. If a header cannot be removed, nothing is known to be clean: reply, never forward.
fn strip(cfg: &Config, host: &mut dyn Host, headers: &Headers) -> Option<Outcome> {
    let mut stripped: Vec<&[u8]> = Vec::new();
    for (name, _) in headers.iter() {
        if !cfg.owns(name) || stripped.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            continue;
        }
        let Ok(text) = core::str::from_utf8(name) else {
            host.log(Level::Error, "owned header with a non-UTF-8 name: cannot remove it");
            return Some(reply(host, 400, details::OWNED_HEADER_NOT_UTF8, b"bad request\n"));
        };
        if let Err(e) = host.remove_request_header(text) {
            host.log(Level::Error, &format!("cannot remove header {} (status {})", shown(name), e.0));
            return Some(reply(host, 500, details::STRIP_FAILED, INTERNAL_ERROR_BODY));
        }
        stripped.push(name);
    }
    if !stripped.is_empty() {
        // Names only, each bounded: the values are what a client tried to forge and may be anything.
        let mut names: Vec<String> = stripped.iter().take(LOGGED_NAMES).map(|n| shown(n)).collect();
        if stripped.len() > LOGGED_NAMES {
            names.push(format!("and {} more", stripped.len() - LOGGED_NAMES));
        }
        host.log(Level::Warn, &format!("stripped client-supplied headers: {}", names.join(", ")));
    }
    None
}

/// How many stripped names one log line lists.
const LOGGED_NAMES: usize = 8;

/// The identity of a verified certificate: from the cache, or parsed and formatted once and cached.
fn identity(
    cfg: &Config,
    host: &dyn Host,
    headers: &Headers,
    cert: PeerCert,
    state: &mut State,
) -> Result<Rc<Identity>, PeerError> {
    if let Some(id) = state.cache.get(&cert.sha256) {
        cert.confirm(host, headers, &state.peer)?;
        return Ok(id);
    }
    let key = cert.sha256;
    let der = cert.der(host, headers, &mut state.peer)?;
    let parsed = ClientCert::from_der(&der).map_err(PeerError::Cert)?;
    let id = Rc::new(Identity::new(cfg, &parsed));
    state.cache.insert(key, Rc::clone(&id));
    Ok(id)
}

fn unreadable(host: &dyn Host, e: &PeerError) -> Verdict {
    host.log(Level::Warn, &format!("no identity injected: {e}"));
    Verdict::Error
}

/// Checks a verified certificate against the configured policy; the reason reads like OpenSSL's verify errors.
fn policy_failure(cfg: &Config, host: &dyn Host, id: &Identity) -> Option<String> {
    if cfg.check_validity {
        match host.now_unix() {
            Ok(now) => {
                if let Some(why) = cert::validity_error(id.not_before, id.not_after, now) {
                    return Some(why.to_string());
                }
            }
            Err(e) => {
                host.log(Level::Error, &format!("cannot read the host clock (status {})", e.0));
                return Some("cannot check validity".to_string());
            }
        }
    }
    if !id.issuer_trusted {
        return Some("issuer not trusted".to_string());
    }
    None
}

/// SANs of one kind, each rendered so it holds no `,` (cert::san_text, cert::ip_text), joined with `,`.
fn join(items: &[Vec<u8>], render: fn(&[u8]) -> String) -> Option<String> {
    if items.is_empty() {
        None
    } else {
        Some(items.iter().map(|item| render(item)).collect::<Vec<_>>().join(","))
    }
}

/// The value of a certificate field; `None` when the certificate has no such value (the header is then not sent).
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
        Field::ClientCertSf => Some(format!(":{}:", c.der_base64())),
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

/// A request without a valid configuration (Kong still runs a filter whose `on_configure` failed), after the
/// default strip: refused.
pub fn refuse_unconfigured(host: &mut dyn Host) -> Outcome {
    host.log(Level::Error, "filter is not configured: refusing the request");
    reply(host, 500, details::NOT_CONFIGURED, INTERNAL_ERROR_BODY)
}

/// Answers locally; if the host cannot, closes the stream: a paused request with no reply would hang until a
/// timeout, and must never be forwarded.
fn reply(host: &mut dyn Host, status: u32, details: &str, body: &[u8]) -> Outcome {
    let Err(e) = host.send_local_reply(status, details, body) else {
        return Outcome::Replied;
    };
    host.log(Level::Error, &format!("cannot send local reply (status {}): closing the stream", e.0));
    if let Err(e) = host.close_stream() {
        host.log(Level::Error, &format!("cannot close the stream (status {})", e.0));
    }
    Outcome::Closed
}

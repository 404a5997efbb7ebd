//! The request decision (SPEC, required behaviour): which headers to remove, which to set, or a local reply. A
//! value, so an adapter applies it with the fewest host calls its host allows, and a renderer sees the whole output.

use std::fmt::Display;
use std::rc::Rc;

use crate::budget;
use crate::cache::{Cache, CAPACITY};
use crate::cert::{self, ClientCert};
use crate::config::{Config, Mode};
use crate::headers::shown;
use crate::metrics::Counter;
use crate::output::{self, Identity};
use crate::policy;
use crate::sign;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// What the host says about the client's certificate.
#[derive(Debug)]
pub enum Peer<C> {
    /// No certificate was presented (or the connection is not TLS).
    None,
    /// Presented but not verified; the reason as in `FAILED:<reason>`.
    Unverified(String),
    /// Verified by the host.
    Verified(C),
}

/// A verified certificate as the host names it: the identity cache's key, and its DER on demand (read only on a cache
/// miss). The key is the leaf's SHA-256, or with a chain a digest that also names the chain: the adapter guarantees
/// that one key always stands for the same leaf and chain.
pub trait Presented {
    type Error: Display;
    fn key(&self) -> [u8; 32];
    fn der(self) -> Result<Certs, Self::Error>;
}

/// What the client presented: the leaf's DER and, where the configuration asks for it ([`Config::wants_chain`]) and
/// the host gives it, the certificates it sent after the leaf, in TLS order (RFC 8446 section 4.4.2).
#[derive(Debug, Default)]
pub struct Certs {
    pub leaf: Vec<u8>,
    pub chain: Option<Vec<Vec<u8>>>,
}

/// One header the upstream gets, set to exactly this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetHeader {
    pub name: Rc<str>,
    pub value: Rc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    /// Envoy logs it as `%RESPONSE_CODE_DETAILS%`: one per reason ([`details`]).
    pub details: &'static str,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Set these headers, then forward.
    Forward(Vec<SetHeader>),
    Reply(Reply),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'h> {
    /// Owned headers of the request, to remove first whatever the action (a replied request is logged too, so no
    /// forged value stays in it): every copy of each name, case-insensitively, each name once.
    pub remove: Vec<&'h [u8]>,
    pub action: Action,
    /// For the host's log, in order. None holds a secret, a value, or more than a bound of a client's bytes.
    pub logs: Vec<(Level, String)>,
    /// Counters to increment, and by how much (local replies are counted where they are sent).
    pub counts: Vec<(Counter, u64)>,
}

/// Each local reply's details string: one per reason, the adapter's included.
pub mod details {
    pub const CERTIFICATE_REQUIRED: &str = "mtls_headers_certificate_required";
    pub const OWNED_HEADER_FROM_CLIENT: &str = "mtls_headers_owned_header_from_client";
    pub const OWNED_HEADER_NOT_UTF8: &str = "mtls_headers_owned_header_name_not_utf8";
    pub const HEADERS_UNREADABLE: &str = "mtls_headers_request_headers_unreadable";
    pub const HOST_UNKNOWN: &str = "mtls_headers_host_unknown";
    pub const STRIP_FAILED: &str = "mtls_headers_strip_failed";
    pub const INJECT_FAILED: &str = "mtls_headers_inject_failed";
    pub const NOT_CONFIGURED: &str = "mtls_headers_not_configured";
    pub const SIGN_FAILED: &str = "mtls_headers_sign_failed";
}

pub const INTERNAL_ERROR_BODY: &[u8] = b"internal error\n";

/// What a plugin keeps across its requests: identities by certificate SHA-256. Only what follows from the
/// certificate and the configuration is cached; verification and (with `check_validity`) the clock are per request.
pub struct State {
    cache: Cache<Identity>,
}

impl State {
    pub fn new(cache_capacity: usize) -> State {
        State { cache: Cache::new(cache_capacity) }
    }

    /// How many identities are cached.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

impl Default for State {
    fn default() -> State {
        State::new(CAPACITY)
    }
}

/// The certificate state headers are rendered from, after the configured policy.
#[derive(Debug)]
pub enum Verdict {
    Verified(Rc<Identity>),
    NoCert,
    Unverified(String),
    /// The host's answer or the certificate could not be read: no identity, and no verdict header either.
    Unreadable,
}

/// Decides one request. `request`: [`scan`] of the request as received; `peer`: the host's answer (an error fails
/// closed); `now`: the host clock in Unix seconds, read at most once, and only when the policy or a signature
/// needs it.
pub fn decide<'h, C: Presented, E: Display, T: Display>(
    cfg: &Config,
    request: Scan<'h>,
    peer: Result<Peer<C>, E>,
    now: impl FnOnce() -> Result<u64, T>,
    state: &mut State,
) -> Decision<'h> {
    let mut logs = Vec::new();
    let mut counts = Vec::with_capacity(3);
    let mut clock = Clock { read: Some(now), value: None };
    let Scan { owned: remove, unnameable, pseudo } = request;
    if !remove.is_empty() {
        logs.push((Level::Warn, stripped_line(&remove)));
        counts.push((Counter::HeadersStripped, remove.len() as u64));
    }
    if unnameable.is_some() {
        logs.push((Level::Error, "owned header with a non-UTF-8 name: cannot remove it".to_string()));
        let reply = Reply { status: 400, details: details::OWNED_HEADER_NOT_UTF8, body: b"bad request\n".to_vec() };
        return Decision { remove, action: Action::Reply(reply), logs, counts };
    }
    let (verdict, counter) = match peer {
        Ok(Peer::None) => (Verdict::NoCert, Counter::NoCertificate),
        Ok(Peer::Unverified(reason)) => (Verdict::Unverified(reason), Counter::UnverifiedByHost),
        Ok(Peer::Verified(c)) => match identity(cfg, c, state, &mut counts, &mut logs) {
            Ok(id) => match policy_failure(cfg, &id, &mut clock, &mut logs) {
                None => (Verdict::Verified(id), Counter::Verified),
                Some((counter, reason)) => (Verdict::Unverified(reason), counter),
            },
            Err(e) => (unreadable(&e, &mut logs), Counter::Unreadable),
        },
        Err(e) => (unreadable(&e, &mut logs), Counter::Unreadable),
    };
    counts.push((counter, 1));
    if let Verdict::Unverified(reason) = &verdict {
        logs.push((Level::Debug, format!("client certificate not verified: {reason}")));
    }
    if !matches!(verdict, Verdict::Verified(_)) {
        match cfg.mode {
            Mode::Required => {
                let reply = Reply {
                    status: cfg.reject_status,
                    details: details::CERTIFICATE_REQUIRED,
                    body: cfg.reject_body.clone().into(),
                };
                return Decision { remove, action: Action::Reply(reply), logs, counts };
            }
            Mode::Audit => {
                let why = match &verdict {
                    Verdict::NoCert => "no client certificate".to_string(),
                    // The reason is the TLS stack's or the policy's words, never a client's; bounded all the same.
                    Verdict::Unverified(reason) => format!("not verified: {}", bounded(reason)),
                    _ => "certificate unreadable".to_string(),
                };
                logs.push((Level::Warn, format!("audit: mode `required` would refuse this request: {why}")));
                counts.push((Counter::AuditWouldRefuse, 1));
            }
            Mode::Optional => {}
        }
    }
    let mut set = output::mappings(cfg, &verdict, &mut logs);
    let dropped = budget::apply(cfg, &mut set);
    if !dropped.is_empty() {
        let names = dropped.join(", ");
        logs.push((Level::Warn, format!("size budget: not sending {names}")));
        counts.push((Counter::BudgetDropped, 1));
        set.push(SetHeader { name: budget::FLAG.into(), value: names.into() });
    }
    if let Some(signing) = &cfg.signing {
        let authority = pseudo.host.unwrap_or(pseudo.authority);
        let derived = sign::Derived::from_pseudo(pseudo.method, authority, pseudo.path, pseudo.scheme);
        match (derived, clock.get()) {
            (Some(derived), Ok(created)) => {
                // A verified identity's headers are the same on every request (this configuration, this
                // certificate): their part of the signature is cached with it.
                let fresh;
                let prefix = match &verdict {
                    Verdict::Verified(id) => id.sign_prefix.get_or_init(|| signing.prefix(&set, true)),
                    _ => {
                        fresh = signing.prefix(&set, false);
                        &fresh
                    }
                };
                let signature = signing.sign(prefix, &derived, created);
                set.extend(signature);
            }
            // Unsigned identity headers would read as forged to an upstream that checks: answer instead.
            (derived, created) => {
                let why = match (derived, created) {
                    (None, _) => "the request has no method, authority or path".to_string(),
                    (_, Err(e)) => format!("cannot read the host clock ({e})"),
                    _ => String::new(),
                };
                logs.push((Level::Error, format!("cannot sign the identity headers: {why}")));
                let reply = Reply { status: 500, details: details::SIGN_FAILED, body: INTERNAL_ERROR_BODY.to_vec() };
                return Decision { remove, action: Action::Reply(reply), logs, counts };
            }
        }
    }
    Decision { remove, action: Action::Forward(set), logs, counts }
}

/// The request's pseudo-headers, for RFC 9421's derived components.
#[derive(Default)]
struct Pseudo<'h> {
    method: &'h [u8],
    authority: &'h [u8],
    host: Option<&'h [u8]>,
    path: &'h [u8],
    scheme: &'h [u8],
}

/// The host clock, read once per request at most.
struct Clock<F> {
    read: Option<F>,
    value: Option<Result<u64, String>>,
}

impl<F: FnOnce() -> Result<u64, T>, T: Display> Clock<F> {
    fn get(&mut self) -> Result<u64, String> {
        if let Some(read) = self.read.take() {
            self.value = Some(read().map_err(|e| e.to_string()));
        }
        self.value.clone().unwrap_or_else(|| Err("clock not read".to_string()))
    }
}

/// What the filter reads of a request's headers, in one pass ([`scan`]).
pub struct Scan<'h> {
    /// Every owned header of the request (every spelling and copy: hosts remove case-insensitively), each once.
    pub owned: Vec<&'h [u8]>,
    /// The first owned header whose name is not UTF-8: it cannot be named to every host, so such a request is
    /// answered, never forwarded.
    pub unnameable: Option<&'h [u8]>,
    /// The pseudo-headers a signature needs.
    pseudo: Pseudo<'h>,
}

/// Reads a request's headers once, for [`decide`], and for an adapter whose host cannot remove a header.
pub fn scan<'h>(cfg: &Config, headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>) -> Scan<'h> {
    let mut request = Scan { owned: Vec::new(), unnameable: None, pseudo: Pseudo::default() };
    let pseudo = &mut request.pseudo;
    for (name, value) in headers {
        match name {
            b":method" => pseudo.method = value,
            b":authority" => pseudo.authority = value,
            // An HTTP/1.1 Host line: the authority nginx forwards (`$http_host`, Kong's preserve_host).
            // ngx_wasm_module's `:authority` appends the listener's port to it (measured: `localhost:8443` for
            // `Host: localhost`), so Host comes first where the map has one.
            _ if name.eq_ignore_ascii_case(b"host") => pseudo.host = Some(value),
            b":path" => pseudo.path = value,
            b":scheme" => pseudo.scheme = value,
            _ => {}
        }
        if !cfg.owns(name) || request.owned.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            continue;
        }
        if core::str::from_utf8(name).is_err() {
            request.unnameable = request.unnameable.or(Some(name));
            continue;
        }
        request.owned.push(name);
    }
    request
}

/// The log line for stripped headers: names only, each bounded (the values are what a client tried to forge and
/// may be anything).
fn stripped_line(owned: &[&[u8]]) -> String {
    let mut names: Vec<String> = owned.iter().take(LOGGED_NAMES).map(|n| shown(n)).collect();
    if owned.len() > LOGGED_NAMES {
        names.push(format!("and {} more", owned.len() - LOGGED_NAMES));
    }
    format!("stripped client-supplied headers: {}", names.join(", "))
}

/// A reason as a log line may show it: at most `REASON_MAX` characters, printable ASCII and spaces kept, anything
/// else as `\xNN`.
fn bounded(reason: &str) -> String {
    let mut out = String::new();
    for c in reason.chars().take(REASON_MAX) {
        if c == ' ' || (c.is_ascii_graphic() && c != '\\') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

const REASON_MAX: usize = 128;

/// How many stripped names one log line lists.
const LOGGED_NAMES: usize = 8;

/// The identity of a verified certificate: from the cache, or parsed and rendered once and cached.
fn identity<C: Presented>(
    cfg: &Config,
    c: C,
    state: &mut State,
    counts: &mut Vec<(Counter, u64)>,
    logs: &mut Vec<(Level, String)>,
) -> Result<Rc<Identity>, String> {
    let key = c.key();
    if let Some(id) = state.cache.get(&key) {
        counts.push((Counter::CacheHit, 1));
        return Ok(id);
    }
    counts.push((Counter::CacheMiss, 1));
    let certs = c.der().map_err(|e| e.to_string())?;
    let parsed = ClientCert::from_der(&certs.leaf).map_err(|e| format!("client certificate: {e}"))?;
    for der in certs.chain.iter().flatten() {
        cert::check_der(der).map_err(|e| format!("presented chain: {e}"))?;
    }
    let id = Rc::new(Identity::new(cfg, &parsed, certs.chain.as_deref(), logs));
    state.cache.insert(key, Rc::clone(&id));
    Ok(id)
}

fn unreadable(e: &dyn Display, logs: &mut Vec<(Level, String)>) -> Verdict {
    logs.push((Level::Warn, format!("no identity injected: {e}")));
    Verdict::Unreadable
}

/// Checks a verified certificate against the configured policy: the counter and the reason, which reads like
/// OpenSSL's verify errors.
fn policy_failure<F: FnOnce() -> Result<u64, T>, T: Display>(
    cfg: &Config,
    id: &Identity,
    clock: &mut Clock<F>,
    logs: &mut Vec<(Level, String)>,
) -> Option<(Counter, String)> {
    if cfg.check_validity || cfg.min_remaining_validity > 0 {
        match clock.get() {
            Ok(now) => {
                if let Some(why) = cert::validity_error(id.not_before, id.not_after, now).filter(|_| cfg.check_validity)
                {
                    return Some((Counter::UnverifiedValidity, why.to_string()));
                }
                if id.not_after.saturating_sub(now) < cfg.min_remaining_validity {
                    return Some((Counter::UnverifiedPolicy, policy::EXPIRES_TOO_SOON.to_string()));
                }
            }
            Err(e) => {
                logs.push((Level::Error, format!("cannot read the host clock ({e})")));
                return Some((Counter::UnverifiedValidity, "cannot check validity".to_string()));
            }
        }
    }
    if !id.issuer_trusted {
        return Some((Counter::UnverifiedIssuer, "issuer not trusted".to_string()));
    }
    if let Some(why) = id.policy_failure {
        return Some((Counter::UnverifiedPolicy, why.to_string()));
    }
    None
}

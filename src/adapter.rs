//! The proxy-wasm adapter's request path: read what the host says, let the core decide, apply the decision with
//! the host calls this host allows. Each host's quirks are here and in `peer.rs`, nowhere in the core.

use mtls_headers_core::config::{Config, HostKind};
use mtls_headers_core::decision::INTERNAL_ERROR_BODY;
use mtls_headers_core::headers::shown;
use mtls_headers_core::{decide, details, scan, Action, Decision, Reply};

use crate::host::{Counter, Host, Level};
use crate::peer::{self, PeerMemo};

/// What the proxy layer returns to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// A local reply was sent: the proxy layer must return `Action::Pause`.
    Replied,
    /// The local reply could not be sent, and the stream was closed instead (never forwarded, never left hanging).
    Closed,
}

/// What a plugin (root context) keeps across its requests.
#[derive(Default)]
pub struct State {
    core: mtls_headers_core::State,
    peer: PeerMemo,
}

impl State {
    pub fn new(cache_capacity: usize) -> State {
        State { core: mtls_headers_core::State::new(cache_capacity), peer: PeerMemo::default() }
    }

    /// How many identities are cached.
    pub fn cached(&self) -> usize {
        self.core.cached()
    }

    /// With `host: auto`, the host once a request has shown which it is.
    pub fn detected_host(&self) -> Option<HostKind> {
        self.peer.detected()
    }
}

const OWNED_HEADER_BODY: &[u8] = b"bad request: client certificate headers must not come from the client\n";

/// Reads the plugin configuration once (`on_configure`). The error names the field and never contains a secret;
/// the configuration itself is not logged.
pub fn configure(raw: &[u8], env: &dyn Fn(&str) -> Option<String>, log: &mut dyn FnMut(Level, &str)) -> Option<Config> {
    match Config::parse(raw, env) {
        Ok(cfg) => {
            log(Level::Info, &format!("configured: mode {:?}, {} header mapping(s)", cfg.mode, cfg.mappings.len()));
            Some(cfg)
        }
        Err(e) => {
            log(Level::Error, &e.to_string());
            None
        }
    }
}

/// A request, configured or not. Without a valid configuration (Kong still runs a filter whose `on_configure`
/// failed), the default prefix is stripped, then the request is refused.
pub fn on_request(cfg: Option<&Config>, host: &mut dyn Host, state: &mut State) -> Outcome {
    match cfg {
        Some(cfg) => on_request_headers(cfg, host, state),
        None => match on_request_headers(&Config::default(), host, state) {
            Outcome::Continue => refuse_unconfigured(host),
            done => done,
        },
    }
}

pub fn on_request_headers(cfg: &Config, host: &mut dyn Host, state: &mut State) -> Outcome {
    // If the header map cannot be read, nothing is known to be clean: reply rather than forward.
    let headers = match host.request_headers() {
        Ok(h) => h,
        Err(e) => {
            host.log(Level::Error, &format!("cannot read request headers ({e})"));
            return internal_error(host, details::HEADERS_UNREADABLE);
        }
    };
    let kind = match peer::host_kind(cfg, host, &mut state.peer) {
        Ok(kind) => kind,
        Err(e) => {
            host.log(Level::Error, &format!("cannot tell which host this is: {e}"));
            return internal_error(host, details::HOST_UNKNOWN);
        }
    };
    let request = scan(cfg, headers.iter());
    if kind == HostKind::Kong {
        // ngx_wasm_module "removes" a request header by zeroing its hash in nginx's list; nginx's proxy module still
        // forwards such entries (measured: kong/README.md). No host call can keep a client's copy from the upstream,
        // so a request that still carries one is refused. Kong's pre-function plugin clears them before the chain
        // (kong/kong.yml), so legitimate traffic never gets here with one.
        if let Some(name) = request.owned.first().copied().or(request.unnameable) {
            host.log(
                Level::Warn,
                &format!(
                    "refusing the request: it carries the owned header {}, which this host cannot remove \
                     (clear owned headers before the filter: kong/README.md)",
                    shown(name)
                ),
            );
            return reply(
                host,
                &Reply { status: 400, details: details::OWNED_HEADER_FROM_CLIENT, body: OWNED_HEADER_BODY.to_vec() },
            );
        }
    }
    let decision = {
        let view: &dyn Host = host;
        let peer = peer::read(cfg, kind, view, &headers, &mut state.peer);
        decide(cfg, request, peer, || view.now_unix(), &mut state.core)
    };
    apply(host, decision)
}

/// Applies a decision: removes, then the reply or the sets. A header that cannot be removed or set leaves the request in a state
/// nobody chose (a forged value kept, a half-written identity): it is answered instead, never forwarded.
fn apply(host: &mut dyn Host, decision: Decision<'_>) -> Outcome {
    for (level, line) in &decision.logs {
        host.log(*level, line);
    }
    for (counter, n) in &decision.counts {
        host.count(*counter, *n);
    }
    for name in decision.remove {
        if let Err(e) = host.remove_request_header(name) {
            host.log(Level::Error, &format!("cannot remove header {} ({e})", shown(name)));
            return internal_error(host, details::STRIP_FAILED);
        }
    }
    let set = match decision.action {
        Action::Reply(r) => return reply(host, &r),
        Action::Forward(set) => set,
    };
    for h in set {
        if let Err(e) = host.set_request_header(&h.name, h.value.as_bytes()) {
            host.log(Level::Error, &format!("cannot set header {} ({e})", h.name));
            return internal_error(host, details::INJECT_FAILED);
        }
    }
    Outcome::Continue
}

fn refuse_unconfigured(host: &mut dyn Host) -> Outcome {
    host.log(Level::Error, "filter is not configured: refusing the request");
    internal_error(host, details::NOT_CONFIGURED)
}

fn internal_error(host: &mut dyn Host, details: &'static str) -> Outcome {
    reply(host, &Reply { status: 500, details, body: INTERNAL_ERROR_BODY.to_vec() })
}

/// Answers locally; if the host cannot, closes the stream: a paused request with no reply would hang until a
/// timeout, and must never be forwarded.
fn reply(host: &mut dyn Host, r: &Reply) -> Outcome {
    host.count(Counter::Reply(r.details), 1);
    let Err(e) = host.send_local_reply(r.status, r.details, &r.body) else {
        return Outcome::Replied;
    };
    host.log(Level::Error, &format!("cannot send local reply ({e}): closing the stream"));
    if let Err(e) = host.close_stream() {
        host.log(Level::Error, &format!("cannot close the stream ({e})"));
    }
    Outcome::Closed
}

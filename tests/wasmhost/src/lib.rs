//! A test-only proxy-wasm host (ABI 0.2.1) on wasmtime, for running the built `mtls_headers.wasm` the way Envoy
//! and Kong (ngx_wasm_module) run it, without either.
//!
//! State-based, like the proxy-wasm Go SDK's `proxytest`: load a plugin, run a request through it, then read the
//! headers the upstream would receive, the local reply and the logs. What differs between the two hosts is in
//! [`Profile`]: how properties are encoded and which exist, the request header map's shape, `end_of_stream`, the
//! VM configuration and environment, and what happens after a failed `on_configure`.
//!
//! Sources for the Kong profile (ngx_wasm_module): `docs/PROXY_WASM.md` (supported ABI, properties, header
//! behaviour) and `src/common/proxy_wasm/ngx_proxy_wasm_properties.c` (`ngx.*`, `connection.*`); for Envoy: the
//! attributes page (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes) and the
//! values measured on Envoy 1.40 in HOSTS.md.

use std::collections::BTreeMap;
use std::path::Path;

pub mod native;

use wasmtime::{Caller, Engine, Extern, InstancePre, Linker, Memory, Module, Store, TypedFunc};

pub type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

// proxy-wasm ABI 0.2.1 status codes (spec: abi-versions/v0.2.1).
const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const METRIC_COUNTER: i32 = 0;
const BAD_ARGUMENT: i32 = 2;
const INVALID_MEMORY_ACCESS: i32 = 6;
const INTERNAL_FAILURE: i32 = 10;

// Buffer and map types (ABI 0.2.1).
const BUFFER_VM_CONFIGURATION: i32 = 6;
const BUFFER_PLUGIN_CONFIGURATION: i32 = 7;
const MAP_REQUEST_HEADERS: i32 = 0;
const MAP_RESPONSE_HEADERS: i32 = 2;
const STREAM_HTTP_REQUEST: i32 = 0;

const ROOT_CONTEXT_ID: i32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Envoy 1.40 with the V8 runtime: binary property values, lower-case header names.
    Envoy,
    /// Kong 3.9 / ngx_wasm_module: every property a string, `ngx.<variable>`, client header casing kept.
    Kong,
}

/// What the TLS layer established for the downstream connection. For Kong this is what nginx's
/// `ssl_verify_client` produced (`$ssl_client_verify`); for Envoy, what the TLS transport socket validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    Success,
    /// No certificate presented.
    None,
    /// Presented but not verified, with OpenSSL's reason (nginx: `FAILED:<reason>`, with `optional_no_ca`).
    Failed(String),
}

/// The client certificate's facts, as the host would compute them (tests take them from OpenSSL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCert {
    /// PEM with newlines, as `$ssl_client_raw_cert` and Envoy 1.40's `connection.peer_certificate` give it.
    pub pem: String,
    pub sha256_hex: String,
    pub sha1_hex: String,
    /// RFC 2253 (OpenSSL `-nameopt RFC2253`).
    pub subject_dn: String,
    pub issuer_dn: String,
    /// Upper-case hex, nginx's `$ssl_client_serial`.
    pub serial_hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub tls: bool,
    pub verify: Verify,
    /// Present when a certificate was presented (also when it failed verification).
    pub cert: Option<PeerCert>,
}

impl Connection {
    pub fn plain_http() -> Self {
        Connection { tls: false, verify: Verify::None, cert: None }
    }
    pub fn no_cert() -> Self {
        Connection { tls: true, verify: Verify::None, cert: None }
    }
    pub fn verified(cert: PeerCert) -> Self {
        Connection { tls: true, verify: Verify::Success, cert: Some(cert) }
    }
    pub fn failed(cert: PeerCert, reason: &str) -> Self {
        Connection { tls: true, verify: Verify::Failed(reason.to_string()), cert: Some(cert) }
    }
}

/// A request as the client sent it; the host turns it into its own header map (see [`Profile`]).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authority: String,
    /// HTTP/2: names arrive lower-case (RFC 9113 section 8.2.2) on both hosts.
    pub h2: bool,
    pub headers: HeaderList,
}

impl Request {
    pub fn get(path: &str) -> Self {
        Request {
            method: "GET".into(),
            path: path.into(),
            authority: "mtls.example".into(),
            h2: false,
            headers: Vec::new(),
        }
    }
    pub fn header(mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub body: Vec<u8>,
    pub headers: HeaderList,
    pub details: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// The outcome of one request.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `None` when the host answered without running the filter (Kong after a failed `on_configure`).
    pub action: Option<Action>,
    /// The request header map after the filter: what the upstream receives unless there is a local reply.
    pub headers: HeaderList,
    pub reply: Option<LocalReply>,
    /// Log lines written during this request.
    pub logs: Vec<LogLine>,
    /// What the host logged during this request.
    pub host_logs: Vec<String>,
    /// The filter closed the stream (`proxy_close_stream`): the client gets a reset, the upstream nothing.
    pub closed: bool,
}

impl Exchange {
    /// The request went on to the upstream.
    pub fn forwarded(&self) -> bool {
        self.reply.is_none() && !self.closed && self.action == Some(Action::Continue)
    }

    /// Every value of a header, names matched case-insensitively.
    pub fn values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub profile: Profile,
    /// The plugin configuration as the user wrote it. Kong re-serialises a JSON object config (cjson), so key order
    /// may change; the Kong profile does the same.
    pub plugin_config: Vec<u8>,
    /// Envoy's `vm_config.configuration`. Kong has no VM configuration: ignored there.
    pub vm_config: Vec<u8>,
    /// The environment the VM's WASI `environ_get` sees. Use [`kong_worker_env`] for what nginx leaves a Kong worker.
    pub env: Vec<(String, String)>,
    /// The host clock, seconds since the Unix epoch.
    pub now_unix: u64,
    /// `proxy_send_local_response` fails (as Envoy's does once a response has started), to test what follows.
    pub fail_local_reply: bool,
}

impl Options {
    pub fn new(profile: Profile, plugin_config: impl Into<Vec<u8>>) -> Self {
        Options {
            profile,
            plugin_config: plugin_config.into(),
            vm_config: Vec::new(),
            env: Vec::new(),
            now_unix: 1_800_000_000,
            fail_local_reply: false,
        }
    }
}

/// nginx clears the worker environment except variables named by `env` directives in the main block (nginx core
/// docs, `env`); Kong writes those from `nginx_main_env` in kong.conf.
pub fn kong_worker_env(process_env: &[(String, String)], nginx_main_env: &[&str]) -> Vec<(String, String)> {
    process_env.iter().filter(|(k, _)| nginx_main_env.contains(&k.as_str())).cloned().collect()
}

/// A compiled filter, reusable across plugins (compiling is the slow part).
#[derive(Clone)]
pub struct Filter {
    engine: Engine,
    pre: InstancePre<State>,
}

impl Filter {
    pub fn from_file(path: &Path) -> wasmtime::Result<Filter> {
        let bytes = std::fs::read(path).map_err(|e| wasmtime::Error::msg(format!("{}: {e}", path.display())))?;
        Filter::from_bytes(&bytes)
    }

    pub fn from_bytes(wasm: &[u8]) -> wasmtime::Result<Filter> {
        let engine = Engine::default();
        let module = Module::new(&engine, wasm)?;
        // Both hosts refuse a module that does not declare its ABI version.
        if !module.exports().any(|e| e.name() == "proxy_abi_version_0_2_1") {
            return Err(wasmtime::Error::msg("module does not export proxy_abi_version_0_2_1"));
        }
        let mut linker = Linker::new(&engine);
        define_proxy_wasm(&mut linker)?;
        define_wasi(&mut linker)?;
        // Any other import traps when called, so a host call this host does not model shows up as a failure.
        linker.define_unknown_imports_as_traps(&module)?;
        let pre = linker.instantiate_pre(&module)?;
        Ok(Filter { engine, pre })
    }

    /// Starts a VM and a plugin (root context) as the host would: `_initialize`, `proxy_on_vm_start`,
    /// `proxy_on_configure`. A failed `on_configure` is not an error here: Envoy refuses the configuration
    /// ([`Plugin::configured`] false), Kong keeps serving the chain and answers 500 ([`Plugin::request`]).
    pub fn start(&self, options: Options) -> wasmtime::Result<Plugin> {
        let plugin_config = match options.profile {
            Profile::Envoy => options.plugin_config.clone(),
            Profile::Kong => kong_reserialize(&options.plugin_config),
        };
        let vm_config = match options.profile {
            Profile::Envoy => options.vm_config.clone(),
            Profile::Kong => Vec::new(),
        };
        let state = State {
            profile: options.profile,
            plugin_config,
            vm_config,
            env: options.env.clone(),
            now_nanos: options.now_unix.saturating_mul(1_000_000_000),
            context: ROOT_CONTEXT_ID,
            connection: None,
            request_headers: Vec::new(),
            hidden_request_headers: Vec::new(),
            host_logs: Vec::new(),
            response_headers: Vec::new(),
            reply: None,
            closed: false,
            fail_local_reply: options.fail_local_reply,
            logs: Vec::new(),
            root_property_reads: Vec::new(),
            metrics: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let instance = self.pre.instantiate(&mut store)?;
        for start in ["_initialize", "_start"] {
            if let Some(f) = instance.get_func(&mut store, start) {
                f.typed::<(), ()>(&store)?.call(&mut store, ())?;
                break;
            }
        }
        let f = Exports {
            context_create: instance.get_typed_func(&mut store, "proxy_on_context_create")?,
            vm_start: instance.get_typed_func(&mut store, "proxy_on_vm_start")?,
            configure: instance.get_typed_func(&mut store, "proxy_on_configure")?,
            request_headers: instance.get_typed_func(&mut store, "proxy_on_request_headers")?,
            response_headers: instance.get_typed_func(&mut store, "proxy_on_response_headers")?,
            done: instance.get_typed_func(&mut store, "proxy_on_done")?,
            log: instance.get_typed_func(&mut store, "proxy_on_log")?,
            delete: instance.get_typed_func(&mut store, "proxy_on_delete")?,
        };
        f.context_create.call(&mut store, (ROOT_CONTEXT_ID, 0))?;
        let vm_size = i32::try_from(store.data().vm_config.len())?;
        let vm_started = f.vm_start.call(&mut store, (ROOT_CONTEXT_ID, vm_size))? != 0;
        let plugin_size = i32::try_from(store.data().plugin_config.len())?;
        let configured = vm_started && f.configure.call(&mut store, (ROOT_CONTEXT_ID, plugin_size))? != 0;
        Ok(Plugin { store, f, next_context: ROOT_CONTEXT_ID + 1, configured })
    }
}

struct Exports {
    context_create: TypedFunc<(i32, i32), ()>,
    vm_start: TypedFunc<(i32, i32), i32>,
    configure: TypedFunc<(i32, i32), i32>,
    request_headers: TypedFunc<(i32, i32, i32), i32>,
    response_headers: TypedFunc<(i32, i32, i32), i32>,
    done: TypedFunc<i32, i32>,
    log: TypedFunc<i32, ()>,
    delete: TypedFunc<i32, ()>,
}

/// A running plugin: one VM, one root context, any number of requests (HTTP contexts).
pub struct Plugin {
    store: Store<State>,
    f: Exports,
    next_context: i32,
    /// What `on_vm_start` and `on_configure` returned.
    pub configured: bool,
}

impl Plugin {
    /// Log lines written so far outside requests (VM start, configure).
    pub fn logs(&self) -> &[LogLine] {
        &self.store.data().logs
    }

    /// Property paths the filter read from the root context. On Kong a dotted path there is an error (3.10) or a
    /// crash (older releases): the filter must never do it.
    pub fn root_property_reads(&self) -> &[String] {
        &self.store.data().root_property_reads
    }

    /// Every counter the filter defined, with its value.
    pub fn metrics(&self) -> &[(String, u64)] {
        &self.store.data().metrics
    }

    /// Runs one request on a connection: a new HTTP context, request headers, and, when the request goes on, the
    /// upstream's response headers, then log, done, delete. A trap is an `Err`.
    pub fn request(&mut self, connection: &Connection, request: &Request) -> wasmtime::Result<Exchange> {
        let log_start = self.store.data().logs.len();
        let headers = header_map(self.store.data().profile, connection, request);
        if !self.configured {
            return Ok(unconfigured(headers));
        }
        let host_log_start = self.store.data().host_logs.len();
        let id = self.next_context;
        self.next_context += 1;
        let count = i32::try_from(headers.len())?;
        {
            let s = self.store.data_mut();
            s.connection = Some(connection.clone());
            s.request_headers = headers;
            s.hidden_request_headers = Vec::new();
            s.response_headers = Vec::new();
            s.reply = None;
            s.closed = false;
            s.context = id;
        }
        // ngx_wasm_module passes end_of_stream = false in header callbacks; Envoy passes true for a request
        // without a body.
        let eos = i32::from(self.store.data().profile == Profile::Envoy);
        let run = (|| -> wasmtime::Result<Action> {
            self.f.context_create.call(&mut self.store, (id, ROOT_CONTEXT_ID))?;
            let action = action(self.f.request_headers.call(&mut self.store, (id, count, eos))?)?;
            if action == Action::Continue && self.store.data().reply.is_none() {
                self.store.data_mut().response_headers = vec![
                    (b":status".to_vec(), b"200".to_vec()),
                    (b"content-type".to_vec(), b"application/json".to_vec()),
                ];
                action_of(self.f.response_headers.call(&mut self.store, (id, 2, eos))?)?;
            }
            self.f.done.call(&mut self.store, id)?;
            self.f.log.call(&mut self.store, id)?;
            self.f.delete.call(&mut self.store, id)?;
            Ok(action)
        })();
        let s = self.store.data_mut();
        s.context = ROOT_CONTEXT_ID;
        s.connection = None;
        let action = run?;
        let mut headers = std::mem::take(&mut s.request_headers);
        headers.append(&mut s.hidden_request_headers);
        Ok(Exchange {
            action: Some(action),
            headers,
            reply: s.reply.take(),
            logs: s.logs[log_start..].to_vec(),
            host_logs: s.host_logs[host_log_start..].to_vec(),
            closed: s.closed,
        })
    }
}

/// ngx_wasm_module answers 500 for a chain whose filter failed to configure (HOSTS.md), without running it. Envoy
/// never gets here: it rejects the configuration at load.
fn unconfigured(headers: HeaderList) -> Exchange {
    Exchange {
        action: None,
        headers,
        reply: Some(LocalReply {
            status: 500,
            body: Vec::new(),
            headers: Vec::new(),
            details: "host: filter not configured".into(),
        }),
        logs: Vec::new(),
        host_logs: Vec::new(),
        closed: false,
    }
}

fn action(code: i32) -> wasmtime::Result<Action> {
    match code {
        0 => Ok(Action::Continue),
        1 => Ok(Action::Pause),
        other => Err(wasmtime::Error::msg(format!("filter returned unknown action {other}"))),
    }
}

fn action_of(code: i32) -> wasmtime::Result<()> {
    action(code).map(|_| ())
}

/// The request header map each host builds. Both put the pseudo-headers first. Envoy lower-cases every name
/// (its HTTP/1 codec) and adds `x-forwarded-proto`; ngx_wasm_module keeps the client's casing.
pub fn header_map(profile: Profile, conn: &Connection, req: &Request) -> HeaderList {
    let scheme = if conn.tls { "https" } else { "http" };
    let mut map: HeaderList = match profile {
        Profile::Envoy => vec![
            (b":authority".to_vec(), req.authority.clone().into_bytes()),
            (b":path".to_vec(), req.path.clone().into_bytes()),
            (b":method".to_vec(), req.method.clone().into_bytes()),
            (b":scheme".to_vec(), scheme.into()),
        ],
        Profile::Kong => vec![
            (b":path".to_vec(), req.path.clone().into_bytes()),
            (b":method".to_vec(), req.method.clone().into_bytes()),
            (b":scheme".to_vec(), scheme.into()),
            (b":authority".to_vec(), req.authority.clone().into_bytes()),
        ],
    };
    // nginx keeps an HTTP/1 `Host` line among the headers (ngx_wasm_module adds `:authority` beside it); Envoy
    // turns it into `:authority`.
    if profile == Profile::Kong && !req.h2 {
        map.push((b"Host".to_vec(), req.authority.clone().into_bytes()));
    }
    for (name, value) in &req.headers {
        let name = if profile == Profile::Envoy || req.h2 { name.to_ascii_lowercase() } else { name.clone() };
        map.push((name, value.clone()));
    }
    if profile == Profile::Envoy {
        map.push((b"x-forwarded-proto".to_vec(), scheme.into()));
    }
    map
}

/// Kong stores a JSON object config as a table and hands the filter `cjson.encode` of it: same content, key order
/// not kept. serde_json without `preserve_order` writes keys sorted, which reorders them the same way a user sees.
pub fn kong_reserialize(config: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(config) {
        Ok(v @ serde_json::Value::Object(_)) => serde_json::to_vec(&v).unwrap_or_else(|_| config.to_vec()),
        _ => config.to_vec(),
    }
}

struct State {
    profile: Profile,
    plugin_config: Vec<u8>,
    vm_config: Vec<u8>,
    env: Vec<(String, String)>,
    now_nanos: u64,
    context: i32,
    connection: Option<Connection>,
    request_headers: HeaderList,
    /// Kong: request headers the filter "removed" or replaced. ngx_wasm_module zeroes the entry's hash, which hides
    /// it from the filter's map, and nginx's proxy module still forwards it (issue "Kong for real"'s measurements;
    /// kong/README.md).
    hidden_request_headers: HeaderList,
    response_headers: HeaderList,
    reply: Option<LocalReply>,
    closed: bool,
    fail_local_reply: bool,
    logs: Vec<LogLine>,
    /// What the host itself logged (ngx_wasm_module: `NYI - "<path>" property` at alert level).
    host_logs: Vec<String>,
    root_property_reads: Vec<String>,
    /// Counters the filter defined (its id is the index) and their values. Envoy and ngx_wasm_module 9136e463 both
    /// implement counters (ngx_proxy_wasm_host.c `proxy_define_metric`); real-host tests read them there.
    metrics: Vec<(String, u64)>,
}

/// A host's answer to `proxy_get_property`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyAnswer {
    Value(Vec<u8>),
    NotFound,
    /// A status other than Ok/NotFound.
    Error(i32),
}

impl State {
    fn property(&mut self, path: &[String]) -> PropertyAnswer {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        if self.context == ROOT_CONTEXT_ID {
            self.root_property_reads.push(p.join("."));
            if self.profile == Profile::Kong && path.len() > 1 {
                // ngx_wasm_module: no request in the root context; 3.10 errors, older releases crash.
                return PropertyAnswer::Error(INTERNAL_FAILURE);
            }
            return PropertyAnswer::NotFound;
        }
        match &self.connection {
            Some(conn) => request_property(self.profile, conn, &p, &mut self.host_logs),
            None => PropertyAnswer::NotFound,
        }
    }
}

/// A property read in an HTTP context, with what the host logs about it: ngx_wasm_module's `nyi` getter logs at
/// NGX_LOG_WASM_NYI (alert) and answers "not found".
pub fn request_property(
    profile: Profile,
    conn: &Connection,
    path: &[&str],
    host_logs: &mut Vec<String>,
) -> PropertyAnswer {
    if profile == Profile::Kong {
        let dotted = path.join(".");
        if KONG_NYI_PROPERTIES.contains(&dotted.as_str()) {
            host_logs.push(format!("[alert] NYI - \"{dotted}\" property"));
            return PropertyAnswer::NotFound;
        }
    }
    property(profile, conn, path)
}

/// The certificate properties ngx_wasm_module 9136e463 declares with its `nyi` getter
/// (src/common/proxy_wasm/ngx_proxy_wasm_properties.c); `connection.peer_certificate` and
/// `connection.peer_certificate_valid` are not declared at all and answer "not found" silently.
const KONG_NYI_PROPERTIES: &[&str] = &[
    "connection.subject_peer_certificate",
    "connection.dns_san_local_certificate",
    "connection.dns_san_peer_certificate",
    "connection.uri_san_local_certificate",
    "connection.uri_san_peer_certificate",
    "connection.sha256_peer_certificate_digest",
];

/// What each host answers for a property read in an HTTP context on this connection.
pub fn property(profile: Profile, conn: &Connection, path: &[&str]) -> PropertyAnswer {
    use PropertyAnswer::{NotFound, Value};
    let cert = conn.cert.as_ref();
    match profile {
        Profile::Envoy => {
            let bool_byte = |b: bool| Value(vec![u8::from(b)]);
            match (path, cert) {
                // connection.mtls: a certificate was presented (not: it was verified).
                (["connection", "mtls"], _) if conn.tls => bool_byte(cert.is_some()),
                (["connection", "peer_certificate"], Some(c)) => Value(c.pem.clone().into_bytes()),
                // Measured on 1.40: false, not absent, on a TLS connection without a certificate.
                (["connection", "peer_certificate_valid"], _) if conn.tls => bool_byte(conn.verify == Verify::Success),
                (["connection", "sha256_peer_certificate_digest"], Some(c)) => Value(c.sha256_hex.clone().into_bytes()),
                (["connection", "subject_peer_certificate"], Some(c)) => Value(c.subject_dn.clone().into_bytes()),
                _ => NotFound,
            }
        }
        Profile::Kong => {
            // Every value a string; an empty nginx variable is "not found".
            let string = |s: &str| if s.is_empty() { NotFound } else { Value(s.as_bytes().to_vec()) };
            match (path, cert) {
                (["ngx", "nginx_version"], _) => string("1.25.3"),
                // `$connection`, the connection's serial: a scenario is one connection on a fresh VM (measured:
                // one value for every request of a connection, another per connection; tests/e2e/test_host_probe.py).
                (["ngx", "connection"], _) => string("1"),
                (["ngx", "https"], _) if conn.tls => string("on"),
                (["ngx", "ssl_client_verify"], _) if conn.tls => match &conn.verify {
                    Verify::Success => string("SUCCESS"),
                    Verify::None => string("NONE"),
                    Verify::Failed(reason) => string(&format!("FAILED:{reason}")),
                },
                (["ngx", "ssl_client_raw_cert"], Some(c)) => string(&c.pem),
                (["ngx", "ssl_client_s_dn"], Some(c)) => string(&c.subject_dn),
                (["ngx", "ssl_client_i_dn"], Some(c)) => string(&c.issuer_dn),
                (["ngx", "ssl_client_serial"], Some(c)) => string(&c.serial_hex),
                (["ngx", "ssl_client_fingerprint"], Some(c)) => string(&c.sha1_hex),
                // "true" only when nginx verified the certificate; "false" on any other TLS connection.
                (["connection", "mtls"], _) if conn.tls => {
                    string(if conn.verify == Verify::Success { "true" } else { "false" })
                }
                // ngx_wasm_module maps this one to $ssl_client_s_dn (sic); the other certificate attributes
                // (peer_certificate, sha256 digest, *_san_*, subject_peer_certificate) are not implemented.
                (["connection", "subject_local_certificate"], Some(c)) => string(&c.subject_dn),
                _ => NotFound,
            }
        }
    }
}

fn memory(caller: &mut Caller<'_, State>) -> wasmtime::Result<Memory> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| wasmtime::Error::msg("module exports no memory"))
}

fn read(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller)?;
    let mut buf = vec![0u8; usize::try_from(len)?];
    mem.read(&*caller, usize::try_from(ptr as u32)?, &mut buf)?;
    Ok(buf)
}

fn write(caller: &mut Caller<'_, State>, ptr: i32, data: &[u8]) -> wasmtime::Result<()> {
    let mem = memory(caller)?;
    mem.write(&mut *caller, usize::try_from(ptr as u32)?, data)?;
    Ok(())
}

/// Copies `data` into memory the module allocates (`proxy_on_memory_allocate`) and writes its address and size to
/// the two return pointers, as both hosts do.
fn return_bytes(caller: &mut Caller<'_, State>, data: &[u8], ret_ptr: i32, ret_size: i32) -> wasmtime::Result<i32> {
    let alloc = caller
        .get_export("proxy_on_memory_allocate")
        .and_then(Extern::into_func)
        .ok_or_else(|| wasmtime::Error::msg("module exports no proxy_on_memory_allocate"))?
        .typed::<i32, i32>(&*caller)?;
    let size = i32::try_from(data.len())?;
    let ptr = alloc.call(&mut *caller, size)?;
    if ptr == 0 && size != 0 {
        return Ok(INVALID_MEMORY_ACCESS);
    }
    write(caller, ptr, data)?;
    write(caller, ret_ptr, &ptr.to_le_bytes())?;
    write(caller, ret_size, &size.to_le_bytes())?;
    Ok(OK)
}

pub fn serialize_header_map(map: &HeaderList) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(map.len() as u32).to_le_bytes());
    for (k, v) in map {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in map {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

fn deserialize_header_map(bytes: &[u8]) -> Option<HeaderList> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize);
    let count = u32_at(0)?;
    let mut pos = 4 + count * 8;
    let mut out = Vec::new();
    for i in 0..count {
        let (kl, vl) = (u32_at(4 + i * 8)?, u32_at(8 + i * 8)?);
        let k = bytes.get(pos..pos + kl)?.to_vec();
        pos += kl + 1;
        let v = bytes.get(pos..pos + vl)?.to_vec();
        pos += vl + 1;
        out.push((k, v));
    }
    Some(out)
}

fn map_mut(state: &mut State, map_type: i32) -> Option<&mut HeaderList> {
    match map_type {
        MAP_REQUEST_HEADERS if state.context != ROOT_CONTEXT_ID => Some(&mut state.request_headers),
        MAP_RESPONSE_HEADERS if state.context != ROOT_CONTEXT_ID => Some(&mut state.response_headers),
        _ => None,
    }
}

/// A write to the request header map in an HTTP context on Kong, where ngx_wasm_module's removal semantics apply.
/// Envoy `remove`: every duplicate goes, matched case-insensitively.
pub fn envoy_remove(m: &mut HeaderList, key: &[u8]) {
    m.retain(|(n, _)| !n.eq_ignore_ascii_case(key));
}

/// Envoy `setCopy`: exactly one value.
pub fn envoy_replace(m: &mut HeaderList, key: Vec<u8>, value: Vec<u8>) {
    envoy_remove(m, &key);
    m.push((key, value));
}

/// ngx_wasm_module's request-header remove: hidden from the filter, still forwarded by nginx's proxy module.
pub fn kong_remove(visible: &mut HeaderList, hidden: &mut HeaderList, key: &[u8]) {
    let (gone, kept): (HeaderList, HeaderList) =
        std::mem::take(visible).into_iter().partition(|(n, _)| n.eq_ignore_ascii_case(key));
    *visible = kept;
    hidden.extend(gone);
}

/// ngx_wasm_module's request-header replace (measured, tests/e2e/test_host_probe.py): a single copy is replaced in
/// place. Of several, the first gets the new value and the others keep theirs; all are then hidden from the filter
/// and still forwarded.
pub fn kong_replace(visible: &mut HeaderList, hidden: &mut HeaderList, key: Vec<u8>, value: Vec<u8>) {
    let copies = visible.iter().filter(|(n, _)| n.eq_ignore_ascii_case(&key)).count();
    let mut first = true;
    let mut kept = Vec::with_capacity(visible.len() + 1);
    for (n, v) in std::mem::take(visible) {
        if !n.eq_ignore_ascii_case(&key) {
            kept.push((n, v));
        } else if first {
            first = false;
            if copies == 1 {
                kept.push((n, value.clone()));
            } else {
                hidden.push((n, value.clone()));
            }
        } else {
            hidden.push((n, v));
        }
    }
    if first {
        kept.push((key, value));
    }
    *visible = kept;
}

fn kong_request_write(state: &State, map_type: i32) -> bool {
    state.profile == Profile::Kong && map_type == MAP_REQUEST_HEADERS && state.context != ROOT_CONTEXT_ID
}

fn define_proxy_wasm(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_log", |mut c: Caller<'_, State>, level: i32, ptr: i32, len: i32| {
        let message = String::from_utf8_lossy(&read(&mut c, ptr, len)?).into_owned();
        let level = match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            _ => LogLevel::Critical,
        };
        c.data_mut().logs.push(LogLine { level, message });
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_get_log_level", |mut c: Caller<'_, State>, ret: i32| {
        // ngx_wasm_module: a no-op that reports trace; Envoy reports its component level. Trace lets every line
        // through so tests see them all.
        write(&mut c, ret, &0i32.to_le_bytes())?;
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_get_current_time_nanoseconds", |mut c: Caller<'_, State>, ret: i32| {
        let now = c.data().now_nanos;
        write(&mut c, ret, &now.to_le_bytes())?;
        Ok(OK)
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Caller<'_, State>, kind: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| {
            let data = match kind {
                BUFFER_VM_CONFIGURATION => c.data().vm_config.clone(),
                BUFFER_PLUGIN_CONFIGURATION => c.data().plugin_config.clone(),
                _ => return Ok(NOT_FOUND),
            };
            let start = usize::try_from(start as u32)?.min(data.len());
            let end = start.saturating_add(usize::try_from(max as u32)?).min(data.len());
            if data.is_empty() {
                return Ok(NOT_FOUND);
            }
            return_bytes(&mut c, &data[start..end], ret_ptr, ret_size)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Caller<'_, State>, map: i32, ret_ptr: i32, ret_size: i32| {
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(NOT_FOUND) };
            let bytes = serialize_header_map(m);
            return_bytes(&mut c, &bytes, ret_ptr, ret_size)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Caller<'_, State>, map: i32, ptr: i32, len: i32| {
            let bytes = read(&mut c, ptr, len)?;
            let Some(pairs) = deserialize_header_map(&bytes) else { return Ok(BAD_ARGUMENT) };
            if kong_request_write(c.data(), map) {
                // ngx_wasm_module (measured, tests/e2e/test_host_probe.py): every original entry is hidden and
                // still forwarded; the new pairs are neither seen afterwards nor forwarded.
                drop(pairs);
                let s = c.data_mut();
                let mut old = std::mem::take(&mut s.request_headers);
                s.hidden_request_headers.append(&mut old);
                return Ok(OK);
            }
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(NOT_FOUND) };
            *m = pairs;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Caller<'_, State>, map: i32, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32| {
            let key = read(&mut c, kp, kl)?;
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(NOT_FOUND) };
            let Some(value) = m.iter().find(|(n, _)| n.eq_ignore_ascii_case(&key)).map(|(_, v)| v.clone()) else {
                return Ok(NOT_FOUND);
            };
            return_bytes(&mut c, &value, ret_ptr, ret_size)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: Caller<'_, State>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            let key = read(&mut c, kp, kl)?;
            let value = read(&mut c, vp, vl)?;
            if kong_request_write(c.data(), map) {
                let s = c.data_mut();
                kong_replace(&mut s.request_headers, &mut s.hidden_request_headers, key, value);
                return Ok(OK);
            }
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(NOT_FOUND) };
            envoy_replace(m, key, value);
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Caller<'_, State>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            let key = read(&mut c, kp, kl)?;
            let value = read(&mut c, vp, vl)?;
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(NOT_FOUND) };
            m.push((key, value));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Caller<'_, State>, map: i32, kp: i32, kl: i32| {
            let key = read(&mut c, kp, kl)?;
            if kong_request_write(c.data(), map) {
                let s = c.data_mut();
                kong_remove(&mut s.request_headers, &mut s.hidden_request_headers, &key);
                return Ok(OK);
            }
            let Some(m) = map_mut(c.data_mut(), map) else { return Ok(NOT_FOUND) };
            envoy_remove(m, &key);
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Caller<'_, State>, pp: i32, pl: i32, ret_ptr: i32, ret_size: i32| {
            let raw = read(&mut c, pp, pl)?;
            // Envoy splits at NUL and ignores a trailing one. ngx_wasm_module turns every NUL into a dot and looks
            // the result up as it is (`replace_nulls_by_dots`), so `ngx\0x\0` is the variable `x.`: split at
            // every NUL and keep the empty segments.
            let envoy = c.data().profile == Profile::Envoy;
            let path: Vec<String> = raw
                .split(|b| *b == 0)
                .enumerate()
                .filter(|(i, s)| !(envoy && s.is_empty() && *i > 0))
                .map(|(_, s)| String::from_utf8_lossy(s).into_owned())
                .collect();
            match c.data_mut().property(&path) {
                PropertyAnswer::Value(v) => return_bytes(&mut c, &v, ret_ptr, ret_size),
                PropertyAnswer::NotFound => Ok(NOT_FOUND),
                PropertyAnswer::Error(code) => Ok(code),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Caller<'_, State>, status: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, _grpc: i32| {
            let details = String::from_utf8_lossy(&read(&mut c, dp, dl)?).into_owned();
            let body = read(&mut c, bp, bl)?;
            let headers = deserialize_header_map(&read(&mut c, hp, hl)?).unwrap_or_default();
            let s = c.data_mut();
            if s.context == ROOT_CONTEXT_ID {
                return Ok(BAD_ARGUMENT);
            }
            if s.fail_local_reply {
                return Ok(BAD_ARGUMENT);
            }
            s.reply = Some(LocalReply { status: status as u32, body, headers, details });
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Caller<'_, State>, kind: i32, ptr: i32, len: i32, ret: i32| {
            if kind != METRIC_COUNTER {
                return Ok(BAD_ARGUMENT);
            }
            let name = String::from_utf8_lossy(&read(&mut c, ptr, len)?).into_owned();
            let metrics = &mut c.data_mut().metrics;
            // ngx_wasm_module answers a second definition of a name with the first one's id (the crc32 of its prefixed
            // name, ngx_wa_metrics.c); the filter defines each name once per VM, so nothing depends on it.
            let id = match metrics.iter().position(|(n, _)| *n == name) {
                Some(id) => id,
                None => {
                    metrics.push((name, 0));
                    metrics.len() - 1
                }
            };
            write(&mut c, ret, &u32::try_from(id)?.to_le_bytes())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap("env", "proxy_increment_metric", |mut c: Caller<'_, State>, id: i32, offset: i64| {
        match c.data_mut().metrics.get_mut(id as u32 as usize) {
            Some((_, value)) if offset >= 0 => {
                *value += offset as u64;
                Ok(OK)
            }
            _ => Ok(BAD_ARGUMENT),
        }
    })?;
    linker.func_wrap("env", "proxy_close_stream", |mut c: Caller<'_, State>, stream_type: i32| {
        let s = c.data_mut();
        match s.profile {
            // Envoy resets the HTTP request stream (context.cc closeStream).
            Profile::Envoy if stream_type == STREAM_HTTP_REQUEST && s.context != ROOT_CONTEXT_ID => {
                s.closed = true;
                Ok(OK)
            }
            Profile::Envoy => Ok(BAD_ARGUMENT),
            // ngx_wasm_module 9136e463 declares it with its `nop` host function (ngx_proxy_wasm_host.c), which
            // returns NGX_WAVM_NYI: a trap, "host trap (function not yet implemented)" (ngx_wavm_host.c).
            Profile::Kong => Err(wasmtime::Error::msg("host trap (function not yet implemented): proxy_close_stream")),
        }
    })?;
    Ok(())
}

/// The few WASI preview 1 calls a Rust `wasm32-wasip1` reactor makes: the environment (the token may come from
/// it), stdout/stderr, randomness and clocks.
fn define_wasi(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    const W: &str = "wasi_snapshot_preview1";
    let environ = |s: &State| -> Vec<Vec<u8>> {
        s.env.iter().map(|(k, v)| format!("{k}={v}\0").into_bytes()).collect::<Vec<_>>()
    };
    linker.func_wrap(W, "environ_sizes_get", move |mut c: Caller<'_, State>, count_ptr: i32, size_ptr: i32| {
        let vars = environ(c.data());
        let size: usize = vars.iter().map(Vec::len).sum();
        write(&mut c, count_ptr, &(vars.len() as u32).to_le_bytes())?;
        write(&mut c, size_ptr, &(size as u32).to_le_bytes())?;
        Ok(0i32)
    })?;
    linker.func_wrap(W, "environ_get", move |mut c: Caller<'_, State>, ptrs: i32, buf: i32| {
        let vars = environ(c.data());
        let mut at = buf as u32;
        for (i, var) in vars.iter().enumerate() {
            write(&mut c, ptrs + 4 * i as i32, &at.to_le_bytes())?;
            write(&mut c, at as i32, var)?;
            at += var.len() as u32;
        }
        Ok(0i32)
    })?;
    linker.func_wrap(W, "fd_write", |mut c: Caller<'_, State>, fd: i32, iovs: i32, n: i32, written: i32| {
        let mut out = Vec::new();
        for i in 0..n {
            let iov = read(&mut c, iovs + 8 * i, 8)?;
            let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
            let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
            out.extend(read(&mut c, ptr, len)?);
        }
        write(&mut c, written, &(out.len() as u32).to_le_bytes())?;
        let level = if fd == 2 { LogLevel::Error } else { LogLevel::Info };
        c.data_mut().logs.push(LogLine { level, message: format!("fd{fd}: {}", String::from_utf8_lossy(&out)) });
        Ok(0i32)
    })?;
    linker.func_wrap(W, "random_get", |mut c: Caller<'_, State>, buf: i32, len: i32| {
        // Deterministic bytes: tests must not depend on randomness.
        let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect();
        write(&mut c, buf, &bytes)?;
        Ok(0i32)
    })?;
    linker.func_wrap(W, "clock_time_get", |mut c: Caller<'_, State>, _id: i32, _precision: i64, ret: i32| {
        let now = c.data().now_nanos;
        write(&mut c, ret, &now.to_le_bytes())?;
        Ok(0i32)
    })?;
    linker.func_wrap(W, "proc_exit", |_c: Caller<'_, State>, code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!("proc_exit({code})")))
    })?;
    Ok(())
}

/// A profile name as the test tables write it.
pub fn profile_named(name: &str) -> Option<Profile> {
    match name {
        "envoy" => Some(Profile::Envoy),
        "kong" => Some(Profile::Kong),
        _ => None,
    }
}

/// Groups header values by lower-cased name (for assertions that ignore order and casing).
pub fn by_name(headers: &HeaderList) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (n, v) in headers {
        out.entry(String::from_utf8_lossy(n).to_ascii_lowercase()).or_default().push(v.clone());
    }
    out
}

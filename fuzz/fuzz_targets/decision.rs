//! The whole request decision (`adapter::on_request_headers`: the core's `decide` and the proxy-wasm adapter that
//! reads the peer and applies the decision) on the state-based fake host, as Envoy and as Kong
//! (ngx_wasm_module) present a request: arbitrary header lists (owned names in any case and spelling, duplicates,
//! non-UTF-8 bytes), arbitrary property answers and host failures, up to four requests sharing a plugin's state
//! (identity cache, host detection, a request repeated as on a keep-alive connection), under a few fixed
//! configurations. After every request:
//! - no owned header the client sent reaches the upstream unless the filter itself wrote that value;
//! - no value the filter writes has a control character;
//! - identity comes only from a certificate this request presented (or, on Envoy, the connection's digest names)
//!   that parses, that the host said is verified, within its validity and from a trusted issuer, and it is that
//!   certificate's identity, complete;
//! - `mode: required` forwards only with such a certificate;
//! - on ngx_wasm_module, which cannot remove a header, a request carrying an owned header is never forwarded.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use base64ct::{Base64, Encoding};
use libfuzzer_sys::fuzz_target;
use mtls_headers::adapter::{on_request_headers, Outcome, State};
use mtls_headers::catalog::{
    Attribute, ENVOY_MTLS, ENVOY_PEER_CERTIFICATE, ENVOY_PEER_CERTIFICATE_VALID, ENVOY_SHA256_PEER_DIGEST,
    NGX_NGINX_VERSION, NGX_SSL_CLIENT_RAW_CERT, NGX_SSL_CLIENT_VERIFY, XFCC_HEADER,
};
use mtls_headers::fake::FakeHost;
use mtls_headers::host::{Counter, Headers, Host, HostError, Level};
use mtls_headers::xfcc::element;
use mtls_headers_core::cache::CAPACITY;
use mtls_headers_core::cert::{self, dn, ClientCert};
use mtls_headers_core::config::{Config, Field, Gcp, HostKind, Mode, Source};
use mtls_headers_core::headers::is_header_safe;
use mtls_headers_core::output::identity_value;

const TOKEN: &str = "t0ken-value";

/// The configurations a run picks from: every mode, every preset, custom mappings of every field, each host and
/// source setting, `trusted_issuers`, `utf8`, and the Envoy-before-1.39 opt-in.
const CONFIGS: &[&str] = &[
    r#"{"preset":"baas","validate_token":"t0ken-value"}"#,
    r#"{"preset":"baas","validate_token":"t0ken-value","mode":"required"}"#,
    r#"{"preset":"cloudflare"}"#,
    r#"{"preset":"cloudflare","mode":"required","reject_status":401,"assume_verified_by_listener":true}"#,
    r#"{"preset":"rfc9440","strip_prefixes":["x-ssl","x-c-"],"strip_headers":["x-forwarded-client-cert"],
        "headers":{"x-c-sdn":"subject_dn","x-c-idn":"issuer_dn","x-c-sdnl":"subject_dn_legacy",
        "x-c-idnl":"issuer_dn_legacy","x-c-cn":"subject.CN","x-c-o":"subject.O","x-c-ou":"subject.OU",
        "x-c-uid":"subject.UID","x-c-icn":"issuer.CN","x-c-serial":"serial","x-c-sha1":"fingerprint_sha1",
        "x-c-sha256":"fingerprint_sha256","x-c-der":"cert_der_base64","x-c-pem":"cert_pem_urlencoded",
        "x-c-nb":"not_before","x-c-na":"not_after","x-c-dns":"san_dns","x-c-uri":"san_uri","x-c-email":"san_email",
        "x-c-ip":"san_ip","x-c-spiffe":"spiffe_id","x-c-verify":"verify","x-c-validated":"validated",
        "x-c-static":"static:hello","x-c-token":"validate_token"},"validate_token":"t0ken-value"}"#,
    r#"{"mode":"required","utf8":true,"assume_verified_by_listener":true,
        "trusted_issuers":["CN=mtls-headers Test CA,O=mtls-headers"],
        "headers":{"x-ssl-dn":"subject_dn","x-ssl-cn":"subject.CN","x-ssl-verify":"verify"}}"#,
    r#"{"host":"envoy","source":"xfcc","mode":"required","headers":{"x-ssl-cn":"subject.CN","x-ssl-verify":"verify"}}"#,
    r#"{"host":"kong","preset":"baas","validate_token":"t0ken-value","check_validity":false}"#,
    r#"{"preset":"gcp","mode":"audit"}"#,
    r#"{"preset":"envoy-xfcc","headers":{"x-t":"traefik.info","x-a":"alb.leaf","x-v":"alb.validity"}}"#,
    r#"{"preset":"rfc9440","headers":{"x-x":"envoy.xfcc"},"max_total_bytes":4096}"#,
    r#"{"preset":"ingress-nginx","mode":"audit","headers":{"x-p":"present","x-upn":"san_upn","x-dir":"san_dirname",
        "x-ou1":"subject.OU.1","x-x5t":"x5t_s256","x-pin":"pin_sha256","x-dec":"serial_decimal"}}"#,
    r#"{"source":"property","headers":{"X-Custom-CN":"subject.CN","x_custom_sans":"san_uri"},
        "strip_headers":["X_Other"]}"#,
];

// Per thread: a `Config` shares its strings with the headers it sets (`Rc`), so it is not `Sync`. libFuzzer runs
// the target on one thread.
thread_local! {
    static PARSED: Vec<Config> =
        CONFIGS.iter().map(|c| Config::parse(c.as_bytes(), &|_| None).expect("fixed configuration")).collect();
}

/// Leaf certificates: the test PKI (odd SANs, edge spaces included) and DN fixtures with control characters,
/// specials, UTF-8, multi-valued RDNs.
static CERTS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    [
        &include_bytes!("../../tests/fixtures/pki/alice.crt")[..],
        include_bytes!("../../tests/fixtures/pki/bob.crt"),
        include_bytes!("../../tests/fixtures/pki/ca.crt"),
        include_bytes!("../../tests/fixtures/pki/sans.crt"),
        include_bytes!("../../tests/fixtures/pki/spaces.crt"),
        include_bytes!("../../tests/fixtures/dn/edge_end.pem"),
        include_bytes!("../../tests/fixtures/dn/ctrl.pem"),
        include_bytes!("../../tests/fixtures/dn/specials.pem"),
        include_bytes!("../../tests/fixtures/dn/utf8_ja.pem"),
        include_bytes!("../../tests/fixtures/dn/multivalue.pem"),
    ]
    .iter()
    .map(|pem| cert::pem_to_der(pem).expect("fixture PEM"))
    .collect()
});

/// Names the configurations own (and XFCC), which a client forges in any spelling.
const OWNED_NAMES: &[&str] = &[
    "x-ssl-client-cn",
    "x-ssl-client-certauth-validated",
    "x-ssl-validate-token",
    "x-ssl-issuer-dn",
    "x-ssl",
    "x-sslx",
    "cf-client-cert-der-base64",
    "x-cert-verify",
    "x-cert-subject-dn",
    "client-cert",
    "x-c-cn",
    "x-c-token",
    "x-custom-cn",
    "x-other",
    "x-forwarded-client-cert",
    ":path",
    "x-ss",
];

#[derive(Arbitrary, Debug)]
struct Input {
    config: u8,
    kong: bool,
    requests: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    New(Box<Request>),
    /// The previous request again, as the next one on a keep-alive connection: cache and memo hits.
    Again,
}

#[derive(Arbitrary, Debug)]
struct Request {
    headers: Vec<(Name, Value)>,
    envoy: EnvoyProps,
    ngx: NgxProps,
    clock: Option<u64>,
    fail_header_writes: bool,
    fail_local_reply: bool,
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// A known name; `style` bits: upper case, `_` for `-`, alternating case; then any bytes.
    Known {
        which: u8,
        style: u8,
        suffix: Vec<u8>,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Raw(Vec<u8>),
    /// An XFCC element as Envoy's SANITIZE_SET writes it, around a certificate.
    Xfcc {
        cert: CertBytes,
        digest: Digest,
        extra: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct EnvoyProps {
    mtls: Prop<Flag>,
    peer_certificate: Prop<CertBytes>,
    peer_certificate_valid: Prop<Flag>,
    digest: Prop<Digest>,
}

#[derive(Arbitrary, Debug)]
struct NgxProps {
    nginx_version: Prop<Vec<u8>>,
    verify: Prop<Verify>,
    raw_cert: Prop<CertBytes>,
}

/// A property answer: absent, a host error, or a value.
#[derive(Arbitrary, Debug)]
enum Prop<T> {
    Absent,
    Fails(u8),
    Is(T),
}

#[derive(Arbitrary, Debug)]
enum Flag {
    True,
    False,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Verify {
    Success,
    None,
    Failed(Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Digest {
    /// The SHA-256 of a fixture, in lower or upper case hex.
    Of {
        which: u8,
        upper: bool,
    },
    /// What Envoy answers: the SHA-256 of the certificate this request presents (property or XFCC), if one parses.
    Presented,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum CertBytes {
    Fixture {
        which: u8,
        form: Form,
    },
    /// A fixture with bytes overwritten (most still parse: x509-cert does not check signatures).
    Mutated {
        which: u8,
        edits: Vec<(u16, u8)>,
        cut: Option<u16>,
        form: Form,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Form {
    Pem,
    UrlEncodedPem,
    Der,
}

fn fixture(which: u8) -> &'static [u8] {
    &CERTS[usize::from(which) % CERTS.len()]
}

fn pem_of(der: &[u8]) -> Vec<u8> {
    let b64 = Base64::encode_string(der);
    let mut out = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    out
}

fn url_encoded(bytes: &[u8]) -> Vec<u8> {
    cert::url_encode(&String::from_utf8_lossy(bytes)).into_bytes()
}

impl CertBytes {
    fn bytes(&self) -> Vec<u8> {
        let (der, form) = match self {
            CertBytes::Raw(b) => return b.clone(),
            CertBytes::Fixture { which, form } => (fixture(*which).to_vec(), *form),
            CertBytes::Mutated { which, edits, cut, form } => {
                let mut der = fixture(*which).to_vec();
                for (at, b) in edits {
                    let at = usize::from(*at) % der.len();
                    der[at] = *b;
                }
                if let Some(cut) = cut {
                    der.truncate(usize::from(*cut));
                }
                (der, *form)
            }
        };
        match form {
            Form::Der => der,
            Form::Pem => pem_of(&der),
            Form::UrlEncodedPem => url_encoded(&pem_of(&der)),
        }
    }
}

impl Digest {
    fn bytes(&self, presented: &[ClientCert]) -> Vec<u8> {
        match self {
            Digest::Of { which, upper } => {
                let hex = cert::hex_lower(&ClientCert::from_der(fixture(*which)).expect("fixture").sha256);
                if *upper { hex.to_ascii_uppercase() } else { hex }.into_bytes()
            }
            Digest::Presented => presented.first().map(|c| cert::hex_lower(&c.sha256).into_bytes()).unwrap_or_default(),
            Digest::Raw(b) => b.clone(),
        }
    }
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        let (which, style, suffix) = match self {
            Name::Raw(b) => return b.clone(),
            Name::Known { which, style, suffix } => (*which, *style, suffix),
        };
        let mut name: Vec<u8> = OWNED_NAMES[usize::from(which) % OWNED_NAMES.len()].bytes().collect();
        if style & 1 != 0 {
            name.make_ascii_uppercase();
        }
        if style & 2 != 0 {
            name.iter_mut().filter(|b| **b == b'-').for_each(|b| *b = b'_');
        }
        if style & 4 != 0 {
            name.iter_mut().step_by(2).for_each(|b| *b = b.to_ascii_uppercase());
        }
        name.extend_from_slice(suffix);
        name
    }
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Raw(b) => b.clone(),
            Value::Xfcc { cert, digest, extra } => {
                let mut v = b"Hash=".to_vec();
                v.extend_from_slice(&digest.bytes(&[]));
                v.extend_from_slice(b";Cert=\"");
                v.extend_from_slice(&url_encoded(&cert.bytes()));
                v.push(b'"');
                v.extend_from_slice(extra);
                v
            }
        }
    }
}

fn set<T, A>(host: FakeHost, attribute: Attribute<A>, prop: &Prop<T>, bytes: impl Fn(&T) -> Vec<u8>) -> FakeHost {
    match prop {
        Prop::Absent => host,
        Prop::Fails(status) => host.with_failing_property(attribute, u32::from(*status)),
        Prop::Is(v) => host.with_property(attribute, bytes(v)),
    }
}

fn flag(f: &Flag) -> Vec<u8> {
    match f {
        Flag::True => vec![1],
        Flag::False => vec![0],
        Flag::Raw(b) => b.clone(),
    }
}

/// The value a property read gives the filter: absent, failed and empty read alike (nothing usable).
fn answer<T>(prop: &Prop<T>, bytes: impl Fn(&T) -> Vec<u8>) -> Option<Vec<u8>> {
    match prop {
        Prop::Is(v) => Some(bytes(v)).filter(|b| !b.is_empty()),
        _ => None,
    }
}

/// The fake host, recording what the filter writes: only those values may appear under owned names afterwards.
struct Recorder {
    host: FakeHost,
    writes: Vec<(String, Vec<u8>)>,
}

impl Host for Recorder {
    fn property(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.host.property(name)
    }
    fn request_headers(&self) -> Result<Headers, HostError> {
        self.host.request_headers()
    }
    fn remove_request_header(&mut self, name: &[u8]) -> Result<(), HostError> {
        self.host.remove_request_header(name)
    }
    fn set_request_header(&mut self, name: &str, value: &[u8]) -> Result<(), HostError> {
        self.host.set_request_header(name, value)?;
        self.writes.push((name.to_string(), value.to_vec()));
        Ok(())
    }
    fn send_local_reply(&mut self, status: u32, details: &str, body: &[u8]) -> Result<(), HostError> {
        self.host.send_local_reply(status, details, body)
    }
    fn close_stream(&mut self) -> Result<(), HostError> {
        self.host.close_stream()
    }
    fn now_unix(&self) -> Result<u64, HostError> {
        self.host.now_unix()
    }
    fn log(&self, level: Level, message: &str) {
        self.host.log(level, message)
    }
    fn count(&mut self, counter: Counter, n: u64) {
        self.host.count(counter, n)
    }
}

fn parse_pem(bytes: &[u8]) -> Option<ClientCert> {
    ClientCert::from_pem(bytes).ok()
}

fuzz_target!(|input: Input| {
    PARSED.with(|parsed| plugin(&parsed[usize::from(input.config) % parsed.len()], &input));
});

/// Up to four requests to one plugin, sharing its state.
fn plugin(cfg: &Config, input: &Input) {
    let mut state = State::new(CAPACITY);
    // Every certificate a request of this plugin presented readably: on Envoy a later request's digest may name one.
    let mut seen: Vec<ClientCert> = Vec::new();
    let mut previous = None;
    for step in input.requests.iter().take(4) {
        if let Step::New(request) = step {
            previous = Some(request);
        }
        if let Some(request) = previous {
            run(cfg, input.kong, request, &mut state, &mut seen);
        }
    }
}

fn run(cfg: &Config, kong: bool, req: &Request, state: &mut State, seen: &mut Vec<ClientCert>) {
    let headers: Vec<(Vec<u8>, Vec<u8>)> = req.headers.iter().take(16).map(|(n, v)| (n.bytes(), v.bytes())).collect();
    let mut host = FakeHost::new();
    if let Some(now) = req.clock {
        host = host.at(now);
    }
    host.fail_header_writes = req.fail_header_writes.then_some(2);
    host.fail_local_reply = req.fail_local_reply.then_some(2);
    for (n, v) in &headers {
        host = host.with_header(n.clone(), v.clone());
    }
    // What this request presents, readably, and whether the host says it is verified.
    let (presented, host_verified) = if kong {
        let n = &req.ngx;
        host = set(host, NGX_NGINX_VERSION, &n.nginx_version, Clone::clone);
        host = set(host, NGX_SSL_CLIENT_VERIFY, &n.verify, verify_bytes);
        host = set(host, NGX_SSL_CLIENT_RAW_CERT, &n.raw_cert, CertBytes::bytes);
        let cert = answer(&n.raw_cert, CertBytes::bytes).and_then(|pem| parse_pem(&pem));
        (cert.into_iter().collect::<Vec<_>>(), answer(&n.verify, verify_bytes).as_deref() == Some(b"SUCCESS"))
    } else {
        let e = &req.envoy;
        host = set(host, ENVOY_MTLS, &e.mtls, flag);
        host = set(host, ENVOY_PEER_CERTIFICATE, &e.peer_certificate, CertBytes::bytes);
        host = set(host, ENVOY_PEER_CERTIFICATE_VALID, &e.peer_certificate_valid, flag);
        let mut certs: Vec<ClientCert> = Vec::new();
        if let Some(p) = answer(&e.peer_certificate, CertBytes::bytes) {
            certs.extend(parse_pem(&p));
            certs.extend(cert::url_decode(&p).and_then(|d| parse_pem(&d)));
        }
        for (_, v) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(XFCC_HEADER.as_bytes())) {
            let cert = element(v).ok().and_then(|e| e.cert).and_then(cert::url_decode);
            certs.extend(cert.and_then(|pem| parse_pem(&pem)));
        }
        host = set(host, ENVOY_SHA256_PEER_DIGEST, &e.digest, |d| d.bytes(&certs));
        let verified = match answer(&e.peer_certificate_valid, flag) {
            Some(v) => v == [1],
            None => cfg.assume_verified_by_listener && !matches!(e.peer_certificate_valid, Prop::Fails(_)),
        };
        (certs, verified)
    };
    seen.extend(presented.iter().cloned());
    // The certificates identity may come from: on Envoy the connection's digest, when it is one, names the
    // certificate (a cache hit reads nothing else); otherwise only what this request presented.
    let digest =
        if kong || cfg.source == Source::Xfcc { None } else { answer(&req.envoy.digest, |d| d.bytes(&presented)) };
    let allowed: Vec<&ClientCert> = match digest.as_deref().and_then(cert::hex_decode_32) {
        Some(sha256) => seen.iter().filter(|c| c.sha256 == sha256).collect(),
        None => presented.iter().collect(),
    };

    let mut rec = Recorder { host, writes: Vec::new() };
    let outcome = on_request_headers(cfg, &mut rec, state);
    let host = &rec.host;
    let now = host.now;

    match outcome {
        Outcome::Continue => assert!(host.reply.is_none() && !host.closed),
        Outcome::Replied => {
            let status = host.reply.as_ref().expect("Replied without a reply").status;
            assert!((400..=599).contains(&status), "reply status {status}");
        }
        Outcome::Closed => assert!(host.closed && host.reply.is_none()),
    }
    let kong_path =
        cfg.host == HostKind::Kong || (cfg.host == HostKind::Auto && state.detected_host() == Some(HostKind::Kong));
    let forged = headers.iter().any(|(n, _)| cfg.owns(n));
    if kong_path && forged {
        assert_ne!(outcome, Outcome::Continue, "ngx_wasm_module forwarded an owned header it cannot remove");
    }
    for (name, value) in &rec.writes {
        let mapping = cfg.mappings.iter().find(|m| *m.name == **name);
        assert!(mapping.is_some(), "wrote {name}, which no mapping names");
        if mapping.is_some_and(|m| m.field == Field::ValidateToken) {
            assert_eq!(value.as_slice(), TOKEN.as_bytes());
        }
        assert!(!value.iter().any(|&b| b < 0x20 || b == 0x7f), "{name}: control character in {value:?}");
    }
    if outcome != Outcome::Continue {
        return;
    }
    // Owned headers the upstream gets: exactly what the filter wrote last under that name.
    for (n, v) in &host.headers {
        if cfg.owns(n) {
            let last = rec.writes.iter().rev().find(|(w, _)| w.as_bytes().eq_ignore_ascii_case(n));
            assert!(
                last.is_some_and(|(w, wv)| w.as_bytes() == n.as_slice() && wv == v),
                "owned header {:?}: {:?} reaches the upstream (config {cfg:?})",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            );
        }
    }
    let written = |name: &str| rec.writes.iter().rev().find(|(w, _)| w == name).map(|(_, v)| v.clone());
    let identity: Vec<_> = cfg.mappings.iter().filter(|m| is_identity(&m.field)).collect();
    let verify_success =
        cfg.mappings.iter().any(|m| m.field == Field::Verify && written(&m.name).as_deref() == Some(b"SUCCESS"));
    let any_identity = identity.iter().any(|m| written(&m.name).is_some());
    if !(any_identity || verify_success || cfg.mode == Mode::Required) {
        return;
    }
    // The filter forwarded with a verified certificate: one this request may take identity from, that the host
    // verified, valid now and trusted, and what was written is all of its identity.
    assert!(host_verified, "identity or `required` passed without the host saying verified");
    let matches = |c: &ClientCert| {
        let valid = !cfg.check_validity || (c.not_before <= now && now <= c.not_after);
        let trusted = cfg.trusted_issuers.is_empty() || cfg.trusted_issuers.contains(&dn::rfc2253(&c.issuer, false));
        // The presented chain comes from this request's XFCC `Chain=` (tests/pipeline.rs checks how): XFCC is
        // compared without its Chain= pair, and the chain header not at all.
        let same = identity.iter().filter(|m| m.field != Field::ClientCertChainRfc9440).all(|m| {
            let want = identity_value(&m.field, c, None, cfg.utf8).filter(|v| is_header_safe(v.as_bytes()));
            let got = written(&m.name).map(|v| if m.field == Field::Xfcc { without_chain(&v) } else { v });
            got == want.map(String::into_bytes)
        });
        valid && trusted && same
    };
    assert!(
        allowed.iter().any(|c| matches(c)),
        "forwarded as verified without a matching certificate ({} allowed); writes {:?}",
        allowed.len(),
        rec.writes.iter().map(|(n, v)| (n, String::from_utf8_lossy(v))).collect::<Vec<_>>()
    );
}

/// A field taken from the certificate, which only a verified one may fill.
fn is_identity(field: &Field) -> bool {
    !matches!(
        field,
        Field::Verify
            | Field::Present
            | Field::Gcp(Gcp::Present | Gcp::ChainVerified | Gcp::Error)
            | Field::Static(_)
            | Field::ValidateToken
    )
}

fn verify_bytes(v: &Verify) -> Vec<u8> {
    match v {
        Verify::Success => b"SUCCESS".to_vec(),
        Verify::None => b"NONE".to_vec(),
        Verify::Failed(reason) => [b"FAILED:".as_slice(), reason].concat(),
        Verify::Raw(b) => b.clone(),
    }
}

/// An `envoy.xfcc` value without its `;Chain="…"` pair (URL-encoded PEM: no `"` inside).
fn without_chain(v: &[u8]) -> Vec<u8> {
    let key = b";Chain=\"";
    let Some(start) = v.windows(key.len()).position(|w| w == key) else { return v.to_vec() };
    let end = v[start + key.len()..].iter().position(|b| *b == b'"').map_or(v.len(), |e| start + key.len() + e + 1);
    [&v[..start], &v[end..]].concat()
}

//! The built `mtls_headers.wasm` in the test host, on the Kong (ngx_wasm_module) and Envoy profiles: the Kong facts
//! the filter must honour, and native-vs-wasm pairs (the same case through the pure logic and through the `.wasm`).
//! The full request table runs from Python (tests/e2e/test_wasm_host.py) on both profiles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use wasmhost::native::NativePlugin;
use wasmhost::{
    kong_worker_env, Action, Connection, Exchange, Filter, LogLevel, Options, PeerCert, Plugin, Profile, Request,
};

const TOKEN: &str = "t0ken-value";
const PROFILES: [Profile; 2] = [Profile::Envoy, Profile::Kong];

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The release build, as shipped. Never skipped: without it the test fails and says how to make it.
fn filter() -> &'static Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| {
        let path = std::env::var("MTLS_HEADERS_WASM")
            .unwrap_or_else(|_| repo("target/wasm32-wasip1/release/mtls_headers.wasm"));
        Filter::from_file(path.as_ref()).unwrap_or_else(|e| panic!("{e:#}: run `make build` first"))
    })
}

fn pki(name: &str) -> String {
    let text = std::fs::read_to_string(repo(&format!("tests/fixtures/pki/{name}"))).unwrap();
    if name.ends_with(".crt") {
        text
    } else {
        text.trim_end().to_string()
    }
}

fn alice() -> PeerCert {
    PeerCert {
        pem: pki("alice.crt"),
        sha256_hex: pki("alice.sha256"),
        sha1_hex: String::new(),
        subject_dn: String::new(),
        issuer_dn: pki("alice.issuer"),
        serial_hex: pki("alice.serial"),
    }
}

fn start(profile: Profile, config: &str) -> Plugin {
    let plugin = filter().start(Options::new(profile, config)).unwrap();
    assert!(plugin.configured, "{profile:?}: {:?}", plugin.logs());
    plugin
}

fn baas() -> String {
    format!(r#"{{"preset":"baas","validate_token":"{TOKEN}","headers":{{"x-ssl-client-verify":"verify"}}}}"#)
}

fn forged(req: Request) -> Request {
    req.header("X-SSL-Client-CN", "admin")
        .header("x-ssl-client-cn", "root")
        .header("X_SSL_CLIENT_CN", "admin")
        .header("x-Ssl-Client-Certauth-Validated", "1")
        .header("x_ssl_validate_token", "guess")
        .header("X-Custom", "keep")
        .header("x-latin1", b"caf\xe9".to_vec())
}

/// The request as it reaches the filter. On Kong the shipped pre-function plugin (kong/kong.yml) clears every owned
/// header first: ngx_wasm_module cannot remove one (the filter refuses such a request:
/// `kong_refuses_owned_headers`).
fn sent(profile: Profile, mut req: Request) -> Request {
    if profile == Profile::Kong {
        req.headers
            .retain(|(n, _)| !String::from_utf8_lossy(n).to_ascii_lowercase().replace('_', "-").starts_with("x-ssl"));
    }
    req
}

/// The identity headers (x-ssl*, any spelling) the upstream gets, names lower-cased, sorted.
fn owned(x: &Exchange) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = x
        .headers
        .iter()
        .map(|(n, v)| (String::from_utf8_lossy(n).to_ascii_lowercase(), String::from_utf8_lossy(v).into_owned()))
        .filter(|(n, _)| n.starts_with("x-ssl") || n.starts_with("x_ssl"))
        .collect();
    v.sort();
    v
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    v.sort();
    v
}

fn alice_headers(verify: &str) -> Vec<(String, String)> {
    let (serial, issuer) = (pki("alice.serial"), pki("alice.issuer"));
    pairs(&[
        ("x-ssl-client-uid", "alice"),
        ("x-ssl-client-certauth-validated", "1"),
        ("x-ssl-client-serial", &serial),
        ("x-ssl-client-cn", &pki("alice.cn")),
        ("x-ssl-issuer-dn", &issuer),
        ("x-ssl-validate-token", TOKEN),
        ("x-ssl-client-verify", verify),
    ])
}

#[test]
fn verified_client_gets_its_identity_on_both_hosts() {
    for profile in PROFILES {
        let mut plugin = start(profile, &baas());
        let x = plugin.request(&Connection::verified(alice()), &sent(profile, forged(Request::get("/")))).unwrap();
        assert!(x.forwarded(), "{profile:?}: {:?}", x.reply);
        assert_eq!(owned(&x), alice_headers("SUCCESS"), "{profile:?}");
        assert_eq!(x.values("x-latin1"), vec![b"caf\xe9".as_slice()], "{profile:?}: the VM survives non-UTF-8");
        // Nothing else touched, and on Kong the client's casing is kept for the headers the filter does not own.
        let custom: Vec<&[u8]> =
            x.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(b"x-custom")).map(|(n, _)| n.as_slice()).collect();
        let want: &[u8] = if profile == Profile::Kong { b"X-Custom" } else { b"x-custom" };
        assert_eq!(custom, vec![want], "{profile:?}");
        // Names only in the log, never forged values, the token or the certificate.
        let log = format!("{:?}{:?}", plugin.logs(), x.logs);
        assert!(
            profile == Profile::Kong
                || x.logs
                    .iter()
                    .any(|l| l.level == LogLevel::Warn && l.message.to_ascii_lowercase().contains("x-ssl-client-cn")),
            "{log}"
        );
        for secret in [TOKEN, "guess", "root", "BEGIN CERTIFICATE"] {
            assert!(!log.contains(secret), "{profile:?}: {secret} in {log}");
        }
        assert!(plugin.root_property_reads().is_empty(), "{profile:?}: {:?}", plugin.root_property_reads());
    }
}

#[test]
fn kong_failed_and_none_verify_results() {
    let reason = "unable to get local issuer certificate";
    for profile in PROFILES {
        // nginx says why (`FAILED:<reason>`); Envoy only says that verification failed.
        let failed = match profile {
            Profile::Kong => format!("FAILED:{reason}"),
            Profile::Envoy => "FAILED:certificate verification failed".to_string(),
        };
        let cases = [
            (Connection::failed(alice(), reason), failed),
            (Connection::no_cert(), "NONE".to_string()),
            // Plain HTTP: on Kong no ngx.https and no ssl variables at all.
            (Connection::plain_http(), "NONE".to_string()),
        ];
        for (conn, verify) in &cases {
            let mut optional = start(profile, &baas());
            let x = optional.request(conn, &sent(profile, forged(Request::get("/")))).unwrap();
            assert!(x.forwarded());
            assert_eq!(
                owned(&x),
                pairs(&[("x-ssl-validate-token", TOKEN), ("x-ssl-client-verify", verify)]),
                "{profile:?} {conn:?}"
            );

            let required = baas().replacen('{', r#"{"mode":"required","#, 1);
            let mut required = start(profile, &required);
            let x = required.request(conn, &sent(profile, forged(Request::get("/")))).unwrap();
            let reply = x.reply.as_ref().expect("a local reply");
            assert_eq!(reply.status, 403);
            // A local reply is followed by Pause, never Continue.
            assert_eq!(x.action, Some(Action::Pause));
        }
    }
}

#[test]
fn unparseable_certificate_fails_closed() {
    for profile in PROFILES {
        let garbage =
            PeerCert { pem: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(), ..alice() };
        let mut plugin = start(profile, &baas());
        let x =
            plugin.request(&Connection::verified(garbage.clone()), &sent(profile, forged(Request::get("/")))).unwrap();
        // Forged headers gone and nothing injected, not even the token: the host answer was not understood.
        assert!(x.forwarded());
        assert_eq!(owned(&x), vec![], "{profile:?}");
        assert!(x.logs.iter().any(|l| l.level == LogLevel::Warn && l.message.contains("no identity")), "{:?}", x.logs);

        let mut required = start(profile, r#"{"mode":"required"}"#);
        let x = required.request(&Connection::verified(garbage), &Request::get("/")).unwrap();
        assert_eq!(x.reply.map(|r| r.status), Some(403), "{profile:?}");
    }
}

#[test]
fn kong_answers_500_when_configure_fails_and_the_error_names_the_field() {
    let plugin = filter().start(Options::new(Profile::Kong, r#"{"preset":"baas","validate_tokn":"x"}"#)).unwrap();
    assert!(!plugin.configured);
    let errors: Vec<_> = plugin.logs().iter().filter(|l| l.level == LogLevel::Error).collect();
    assert!(errors.iter().any(|l| l.message.contains("validate_tokn")), "{:?}", plugin.logs());
    let mut plugin = plugin;
    let x = plugin.request(&Connection::verified(alice()), &Request::get("/")).unwrap();
    assert_eq!(x.reply.map(|r| r.status), Some(500));
}

#[test]
fn kong_token_from_the_environment_needs_nginx_main_env() {
    let config = r#"{"preset":"baas","validate_token_env":"MTLS_HEADERS_VALIDATE_TOKEN"}"#;
    let process_env = vec![("MTLS_HEADERS_VALIDATE_TOKEN".to_string(), "from-env".to_string())];

    // nginx clears the worker's environment: without `nginx_main_env` the variable is gone and the filter
    // refuses to start.
    let mut options = Options::new(Profile::Kong, config);
    options.env = kong_worker_env(&process_env, &[]);
    let plugin = filter().start(options).unwrap();
    assert!(!plugin.configured);
    assert!(plugin.logs().iter().any(|l| l.message.contains("validate_token_env")), "{:?}", plugin.logs());

    let mut options = Options::new(Profile::Kong, config);
    options.env = kong_worker_env(&process_env, &["MTLS_HEADERS_VALIDATE_TOKEN"]);
    let mut plugin = filter().start(options).unwrap();
    assert!(plugin.configured, "{:?}", plugin.logs());
    let x = plugin.request(&Connection::verified(alice()), &Request::get("/")).unwrap();
    assert_eq!(x.values("x-ssl-validate-token"), vec![b"from-env".as_slice()]);
    assert!(!format!("{:?}", plugin.logs()).contains("from-env"));
}

#[test]
fn every_request_on_a_keepalive_connection_is_filtered() {
    for profile in PROFILES {
        let mut plugin = start(profile, &baas());
        let conn = Connection::verified(alice());
        for i in 0..3 {
            let req = Request::get(&format!("/{i}")).header("X-SSL-Client-CN", format!("forged-{i}"));
            let x = plugin.request(&conn, &sent(profile, req)).unwrap();
            assert_eq!(owned(&x), alice_headers("SUCCESS"), "{profile:?} request {i}");
        }
    }
}

#[test]
fn kong_refuses_owned_headers() {
    // Without the pre-function: ngx_wasm_module would forward a "removed" header, so the filter removes nothing
    // and refuses, on every connection and in both modes. The host logs no NYI property either.
    let required = baas().replacen('{', r#"{"mode":"required","#, 1);
    for config in [baas(), required] {
        let mut plugin = start(Profile::Kong, &config);
        for conn in [Connection::verified(alice()), Connection::no_cert(), Connection::plain_http()] {
            let x = plugin.request(&conn, &forged(Request::get("/"))).unwrap();
            assert_eq!(x.action, Some(Action::Pause));
            let reply = x.reply.as_ref().expect("a local reply");
            assert_eq!(reply.status, 400, "{conn:?}");
            assert!(x.logs.iter().any(|l| l.message.contains("which this host cannot remove")), "{:?}", x.logs);
            assert!(x.host_logs.is_empty(), "{:?}", x.host_logs);
        }
    }
}

#[test]
fn kong_plain_http_reads_no_unimplemented_property() {
    // `host: auto` settles on the first request through `ngx.nginx_version`, plain HTTP included, and
    // `connection.sha256_peer_certificate_digest` (NYI there, logged at alert) is never read.
    let mut plugin = start(Profile::Kong, &baas());
    for conn in [Connection::plain_http(), Connection::verified(alice()), Connection::plain_http()] {
        let x = plugin.request(&conn, &Request::get("/")).unwrap();
        assert!(x.forwarded());
        assert!(x.host_logs.is_empty(), "{conn:?}: {:?}", x.host_logs);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Native vs wasm: the same host model (wasmhost's profiles) under both engines (wasmhost::native).

#[test]
fn native_and_wasm_agree() {
    let configs = [
        baas(),
        r#"{"preset":"cloudflare"}"#.to_string(),
        r#"{"preset":"rfc9440","mode":"required","reject_status":401,"reject_body":"no\n"}"#.to_string(),
        r#"{"headers":{"x-client-dn":"subject_dn","x-client-issuer":"issuer_dn","x-client-uid":"subject.UID"},"utf8":true,"strip_prefixes":["x-ssl","x-client"]}"#.to_string(),
        r#"{"preset":"baas","validate_token":"t","trusted_issuers":["CN=someone else"],"mode":"required"}"#.to_string(),
    ];
    let bob = PeerCert { pem: pki("bob.crt"), ..PeerCert::default() };
    let connections = [
        Connection::verified(alice()),
        Connection::verified(bob),
        Connection::failed(alice(), "certificate has expired"),
        Connection::no_cert(),
        Connection::plain_http(),
    ];
    let request = forged(Request::get("/pair")).header("X-Client-DN", "CN=forged");
    for profile in PROFILES {
        for config in &configs {
            let mut plugin = start(profile, config);
            let mut native = NativePlugin::start(&Options::new(profile, config.as_str()));
            for conn in &connections {
                let wasm = plugin.request(conn, &request).unwrap();
                let native = native.request(conn, &request).unwrap();
                let reply = |x: &Exchange| x.reply.as_ref().map(|r| (r.status, r.body.clone(), r.details.clone()));
                assert_eq!(reply(&wasm), reply(&native), "{profile:?} {config} {conn:?}");
                assert_eq!((wasm.action, wasm.closed), (native.action, native.closed), "{profile:?} {config} {conn:?}");
                assert_eq!(wasm.headers, native.headers, "{profile:?} {config} {conn:?}");
            }
        }
    }
}

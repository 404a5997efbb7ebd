//! The request pipeline through the state-based fake host: set what the host would say, run the filter, then read
//! back the headers the upstream would get, the local reply and the logs. Same cases for Envoy's and Kong's
//! encodings. Certificates: tests/fixtures/pki (made by tests/fixtures/pki/gen.sh).
// The whole file is test code: helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mtls_headers::adapter::{on_request_headers, Outcome, State};
use mtls_headers::catalog::{
    ENVOY_MTLS, ENVOY_PEER_CERTIFICATE, ENVOY_PEER_CERTIFICATE_VALID, ENVOY_SHA256_PEER_DIGEST, NGX_CONNECTION,
    NGX_NGINX_VERSION, NGX_SSL_CLIENT_RAW_CERT, NGX_SSL_CLIENT_VERIFY,
};
use mtls_headers::fake::FakeHost;
use mtls_headers_core::config::{Config, HostKind};

const TOKEN: &str = "t0ken-value";

fn pki(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/pki/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn golden(name: &str) -> String {
    String::from_utf8(pki(name)).unwrap().trim_end_matches('\n').to_string()
}

fn config(json: &str) -> Config {
    Config::parse(json.as_bytes(), &|_| None).unwrap()
}

fn baas() -> Config {
    config(&format!(r#"{{"preset":"baas","validate_token":"{TOKEN}"}}"#))
}

/// The forged headers every case sends: mixed case, duplicates, underscore spellings. On ngx_wasm_module, which
/// cannot remove a request header, the filter refuses them (`kong_refuses_owned_headers`); there the request arrives
/// as Kong's pre-function plugin leaves it (kong/kong.yml), with no owned header, and the host is told apart by
/// `ngx.nginx_version`.
fn forged(host: FakeHost) -> FakeHost {
    if NGX_NGINX_VERSION.read(&host).unwrap().is_some() {
        return host.with_header(":path", "/").with_header("x-latin1", b"caf\xe9".to_vec());
    }
    forged_always(host)
}

fn forged_always(host: FakeHost) -> FakeHost {
    host.with_header(":path", "/")
        .with_header("X-SSL-Client-CN", "admin")
        .with_header("x-ssl-client-cn", "root")
        .with_header("X_SSL_CLIENT_CN", "admin")
        .with_header("x-ssl-client-certauth-validated", "1")
        .with_header("X-Ssl-Validate-Token", "guess")
        .with_header("x-ssl-anything", "x")
        .with_header("x-latin1", b"caf\xe9".to_vec())
}

#[derive(Clone, Copy, Debug)]
enum Profile {
    Envoy,
    Kong,
}

/// A host that presents `cert` the way each proxy does.
fn verified(profile: Profile, cert: &[u8]) -> FakeHost {
    match profile {
        Profile::Envoy => FakeHost::new()
            .with_property(ENVOY_MTLS, vec![1])
            .with_property(ENVOY_PEER_CERTIFICATE, cert.to_vec())
            .with_property(ENVOY_PEER_CERTIFICATE_VALID, vec![1]),
        Profile::Kong => {
            kong().with_property(NGX_SSL_CLIENT_VERIFY, "SUCCESS").with_property(NGX_SSL_CLIENT_RAW_CERT, cert.to_vec())
        }
    }
}

/// ngx_wasm_module: every nginx variable as `ngx.<name>`.
fn kong() -> FakeHost {
    FakeHost::new().with_property(NGX_NGINX_VERSION, "1.25.3")
}

fn no_cert(profile: Profile) -> FakeHost {
    match profile {
        Profile::Envoy => FakeHost::new().with_property(ENVOY_MTLS, vec![0]),
        Profile::Kong => kong().with_property(NGX_SSL_CLIENT_VERIFY, "NONE"),
    }
}

fn unverified(profile: Profile, cert: &[u8]) -> FakeHost {
    match profile {
        Profile::Envoy => FakeHost::new()
            .with_property(ENVOY_MTLS, vec![1])
            .with_property(ENVOY_PEER_CERTIFICATE, cert.to_vec())
            .with_property(ENVOY_PEER_CERTIFICATE_VALID, vec![0]),
        Profile::Kong => kong()
            .with_property(NGX_SSL_CLIENT_VERIFY, "FAILED:certificate verification failed")
            .with_property(NGX_SSL_CLIENT_RAW_CERT, cert.to_vec()),
    }
}

/// Owned headers left after the filter ran, sorted, as (name, value).
fn owned(host: &FakeHost, cfg: &Config) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = host
        .headers
        .iter()
        .filter(|(n, _)| cfg.owns(n))
        .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    v.sort();
    v
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    v.sort();
    v
}

const PROFILES: [Profile; 2] = [Profile::Envoy, Profile::Kong];

/// One request on a fresh plugin (empty cache).
fn run(cfg: &Config, host: &mut FakeHost) -> Outcome {
    on_request_headers(cfg, host, &mut State::new(mtls_headers_core::cache::CAPACITY))
}

/// Envoy 1.40 with the connection's SHA-256 digest, as it really answers: the filter keys its cache on it.
fn envoy_with_digest(cert: &str) -> FakeHost {
    verified(Profile::Envoy, &pki(&format!("{cert}.crt")))
        .with_property(ENVOY_SHA256_PEER_DIGEST, golden(&format!("{cert}.sha256")).into_bytes())
}

#[test]
fn cache_hit_skips_the_certificate_but_not_verification_or_the_clock() {
    let cfg = config(&format!(
        r#"{{"preset":"baas","validate_token":"{TOKEN}","headers":{{"x-ssl-client-verify":"verify"}}}}"#
    ));
    let mut state = State::new(4);
    let mut first = forged(envoy_with_digest("alice"));
    assert_eq!(on_request_headers(&cfg, &mut first, &mut state), Outcome::Continue);
    assert_eq!(state.cached(), 1);
    let want = owned(&first, &cfg);
    assert!(want.contains(&("x-ssl-client-verify".to_string(), "SUCCESS".to_string())));

    // The same connection again: the digest names the certificate, the PEM is not needed (and not read).
    let mut hit = forged(
        FakeHost::new()
            .with_property(ENVOY_MTLS, vec![1])
            .with_property(ENVOY_PEER_CERTIFICATE_VALID, vec![1])
            .with_property(ENVOY_SHA256_PEER_DIGEST, golden("alice.sha256").into_bytes()),
    );
    assert_eq!(on_request_headers(&cfg, &mut hit, &mut state), Outcome::Continue);
    assert_eq!(owned(&hit, &cfg), want);

    // Verification and validity are per request, never cached.
    let mut failed = forged(envoy_with_digest("alice").with_property(ENVOY_PEER_CERTIFICATE_VALID, vec![0]));
    on_request_headers(&cfg, &mut failed, &mut state);
    assert_eq!(
        owned(&failed, &cfg),
        pairs(&[("x-ssl-client-verify", "FAILED:certificate verification failed"), ("x-ssl-validate-token", TOKEN)])
    );
    let mut expired = forged(envoy_with_digest("alice").at(4_000_000_000));
    on_request_headers(&cfg, &mut expired, &mut state);
    assert_eq!(expired.header("x-ssl-client-verify").as_deref(), Some("FAILED:certificate has expired"));
    assert_eq!(expired.header("x-ssl-client-cn"), None);
}

#[test]
fn digest_that_does_not_match_the_certificate_fails_closed() {
    let cfg = baas();
    // The digest names bob, the PEM is alice's: nothing is cached and nothing injected but the token.
    let mut state = State::new(4);
    let mut host = forged(
        verified(Profile::Envoy, &pki("alice.crt"))
            .with_property(ENVOY_SHA256_PEER_DIGEST, format!("{:064x}", 7).into_bytes()),
    );
    assert_eq!(on_request_headers(&cfg, &mut host, &mut state), Outcome::Continue);
    assert_eq!(owned(&host, &cfg), vec![]);
    assert!((state.cached() == 0));
    assert!(host.logs().iter().any(|(_, m)| m.contains("does not match")), "{:?}", host.logs());
    let mut bad_hex = forged(
        verified(Profile::Envoy, &pki("alice.crt")).with_property(ENVOY_SHA256_PEER_DIGEST, "not hex".as_bytes()),
    );
    on_request_headers(&cfg, &mut bad_hex, &mut state);
    assert_eq!(owned(&bad_hex, &cfg), vec![]);
}

#[test]
fn cache_is_per_certificate() {
    let cfg = baas();
    let mut state = State::new(4);
    for (cert, cn) in [("alice", golden("alice.cn")), ("bob", "bob".to_string()), ("alice", golden("alice.cn"))] {
        let mut host = forged(verified(Profile::Kong, &pki(&format!("{cert}.crt"))));
        on_request_headers(&cfg, &mut host, &mut state);
        assert_eq!(host.header("x-ssl-client-cn"), Some(cn), "{cert}");
    }
    assert_eq!(state.cached(), 2);
}

#[test]
fn baas_verified_replaces_forged_headers() {
    let cfg = baas();
    for profile in PROFILES {
        let mut host = forged(verified(profile, &pki("alice.crt")));
        assert_eq!(run(&cfg, &mut host), Outcome::Continue, "{profile:?}");
        assert_eq!(
            owned(&host, &cfg),
            pairs(&[
                ("x-ssl-client-certauth-validated", "1"),
                ("x-ssl-client-serial", &golden("alice.serial")),
                ("x-ssl-client-cn", &golden("alice.cn")),
                ("x-ssl-client-uid", "alice"),
                ("x-ssl-issuer-dn", &golden("alice.issuer")),
                ("x-ssl-validate-token", TOKEN),
            ]),
            "{profile:?}"
        );
        // Not owned: passes untouched, even with a non-UTF-8 byte.
        assert_eq!(host.header_values("x-latin1"), vec!["caf\u{fffd}"]);
        assert!(host.reply.is_none());
        let logs = host.log_text();
        assert!(matches!(profile, Profile::Kong) || logs.contains("stripped client-supplied headers"), "{logs}");
        assert!(!logs.contains(TOKEN) && !logs.contains("admin") && !logs.contains("BEGIN"), "{logs}");
    }
}

#[test]
fn no_certificate_optional_sends_only_the_token() {
    let cfg = baas();
    for profile in PROFILES {
        let mut host = forged(no_cert(profile));
        assert_eq!(run(&cfg, &mut host), Outcome::Continue);
        assert_eq!(owned(&host, &cfg), pairs(&[("x-ssl-validate-token", TOKEN)]), "{profile:?}");
    }
}

#[test]
fn required_rejects_without_a_verified_certificate_after_stripping() {
    let cfg = config(&format!(r#"{{"preset":"baas","validate_token":"{TOKEN}","mode":"required"}}"#));
    let cases = [
        ("no cert envoy", no_cert(Profile::Envoy)),
        ("no cert kong", no_cert(Profile::Kong)),
        ("unverified envoy", unverified(Profile::Envoy, &pki("alice.crt"))),
        ("unverified kong", unverified(Profile::Kong, &pki("alice.crt"))),
        ("garbage pem", verified(Profile::Envoy, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
        ("no properties at all", FakeHost::new()),
    ];
    for (name, host) in cases {
        let mut host = forged(host);
        assert_eq!(run(&cfg, &mut host), Outcome::Replied, "{name}");
        let reply = host.reply.clone().unwrap();
        assert_eq!(reply.status, 403, "{name}");
        assert_eq!(reply.body, b"client certificate required\n");
        assert_eq!(reply.details, "mtls_headers_certificate_required", "{name}");
        assert!(owned(&host, &cfg).is_empty(), "{name}: {:?}", owned(&host, &cfg));
    }
    let mut host = forged(verified(Profile::Kong, &pki("alice.crt")));
    assert_eq!(run(&cfg, &mut host), Outcome::Continue);
}

#[test]
fn unverified_reports_failed_and_no_identity() {
    let cfg = config(r#"{"preset":"cloudflare","headers":{"x-ssl-client-certauth-validated":"validated"}}"#);
    for profile in PROFILES {
        let mut host = forged(unverified(profile, &pki("alice.crt")));
        assert_eq!(run(&cfg, &mut host), Outcome::Continue);
        assert_eq!(
            owned(&host, &cfg),
            pairs(&[("x-cert-verify", "FAILED:certificate verification failed")]),
            "{profile:?}"
        );
    }
}

#[test]
fn unparseable_certificates_inject_nothing() {
    let cfg = baas();
    let mut truncated = pki("alice.crt");
    truncated.truncate(truncated.len() / 2);
    let mut trailing = pki("alice.crt");
    trailing.extend_from_slice(b"garbage");
    let mut two = pki("alice.crt");
    two.extend_from_slice(&pki("bob.crt"));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", truncated),
        ("trailing garbage", trailing),
        ("two certificates", two),
        ("not pem", b"hello".to_vec()),
        ("oversize", vec![b'A'; 1 << 20]),
        ("non-utf8", vec![0xff, 0xfe, 0x00]),
    ];
    for (name, pem) in cases {
        for profile in PROFILES {
            let mut host = forged(verified(profile, &pem));
            assert_eq!(run(&cfg, &mut host), Outcome::Continue, "{name}");
            assert!(owned(&host, &cfg).is_empty(), "{name} {profile:?}: {:?}", owned(&host, &cfg));
            assert!(host.log_text().contains("no identity injected"), "{name}");
        }
    }
}

#[test]
fn kong_verify_values() {
    let cfg = config(r#"{"headers":{"x-ssl-verify":"verify","x-ssl-cn":"subject.CN"}}"#);
    let cases = [
        ("SUCCESS", Some(pki("bob.crt")), vec![("x-ssl-verify", "SUCCESS"), ("x-ssl-cn", "bob")]),
        ("NONE", None, vec![("x-ssl-verify", "NONE")]),
        (
            "FAILED:certificate has expired",
            Some(pki("bob.crt")),
            vec![("x-ssl-verify", "FAILED:certificate has expired")],
        ),
        // SUCCESS without the certificate breaks ngx's own contract: fail closed.
        ("SUCCESS", None, vec![]),
        ("MAYBE", None, vec![]),
        // Not nginx's text, which is printable ASCII (found by fuzz/fuzz_targets/decision.rs): nothing is sent, the
        // reason with its tab least of all.
        ("FAILED:\tx", Some(pki("bob.crt")), vec![]),
        ("FAILED:caf\u{e9}", Some(pki("bob.crt")), vec![]),
    ];
    for (verify, cert, expected) in cases {
        let mut host = kong().with_property(NGX_SSL_CLIENT_VERIFY, verify);
        if let Some(cert) = cert.clone() {
            host = host.with_property(NGX_SSL_CLIENT_RAW_CERT, cert);
        }
        let mut host = forged(host);
        assert_eq!(run(&cfg, &mut host), Outcome::Continue);
        assert_eq!(owned(&host, &cfg), pairs(&expected), "{verify} {}", cert.is_some());
    }
}

#[test]
fn host_errors_fail_closed() {
    let cfg = baas();
    let mut host = forged(FakeHost::new().with_failing_property(ENVOY_MTLS, 2));
    assert_eq!(run(&cfg, &mut host), Outcome::Continue);
    assert!(owned(&host, &cfg).is_empty());

    let mut host = forged(verified(Profile::Envoy, &pki("alice.crt")));
    host.fail_header_writes = Some(2);
    assert_eq!(run(&cfg, &mut host), Outcome::Replied);
    assert_eq!(host.reply.as_ref().map(|r| r.status), Some(500));
}

#[test]
fn validity_and_trusted_issuers() {
    let cfg = config(r#"{"headers":{"x-ssl-verify":"verify","x-ssl-cn":"subject.CN"}}"#);
    let mut host = forged(verified(Profile::Envoy, &pki("bob.crt")).at(4_000_000_000));
    run(&cfg, &mut host);
    assert_eq!(owned(&host, &cfg), pairs(&[("x-ssl-verify", "FAILED:certificate has expired")]));
    let mut host = forged(verified(Profile::Envoy, &pki("bob.crt")).at(1_000_000));
    run(&cfg, &mut host);
    assert_eq!(owned(&host, &cfg), pairs(&[("x-ssl-verify", "FAILED:certificate is not yet valid")]));

    let trusted = format!(
        r#"{{"headers":{{"x-ssl-verify":"verify"}},"trusted_issuers":["{}"]}}"#,
        golden("alice.issuer").replace('\\', "\\\\")
    );
    let mut host = forged(verified(Profile::Envoy, &pki("bob.crt")));
    run(&config(&trusted), &mut host);
    assert_eq!(host.header("x-ssl-verify").as_deref(), Some("SUCCESS"));
    let other = r#"{"headers":{"x-ssl-verify":"verify"},"trusted_issuers":["CN=Someone Else"]}"#;
    let mut host = forged(verified(Profile::Envoy, &pki("bob.crt")));
    run(&config(other), &mut host);
    assert_eq!(host.header("x-ssl-verify").as_deref(), Some("FAILED:issuer not trusted"));
}

fn xfcc_host(xfcc: &str, digest: &str) -> FakeHost {
    forged(
        FakeHost::new()
            .with_property(ENVOY_MTLS, vec![1])
            .with_property(ENVOY_PEER_CERTIFICATE_VALID, vec![1])
            .with_property(ENVOY_SHA256_PEER_DIGEST, digest)
            .with_header("x-forwarded-client-cert", xfcc),
    )
}

/// What Envoy 1.36/1.37 answer for a presented certificate (measured: tests/e2e/test_host_probe.py): the digest,
/// no `connection.peer_certificate_valid`, no `connection.peer_certificate`. 1.38 adds the PEM.
fn envoy_136(cert: &str) -> FakeHost {
    FakeHost::new()
        .with_property(ENVOY_MTLS, vec![1])
        .with_property(ENVOY_SHA256_PEER_DIGEST, golden(&format!("{cert}.sha256")).into_bytes())
}

fn envoy_138(cert: &str) -> FakeHost {
    envoy_136(cert).with_property(ENVOY_PEER_CERTIFICATE, pki(&format!("{cert}.crt")))
}

#[test]
fn envoy_without_peer_certificate_valid_verifies_nothing_unless_told() {
    let with_verify = r#""headers":{"x-ssl-client-verify":"verify","x-ssl-cn":"subject.CN"}"#;
    let cfg = config(&format!("{{{with_verify}}}"));
    let mut state = State::new(4);
    for _ in 0..2 {
        let mut host = forged(envoy_138("alice"));
        on_request_headers(&cfg, &mut host, &mut state);
        assert_eq!(owned(&host, &cfg), pairs(&[("x-ssl-client-verify", "FAILED:verification status unavailable")]));
    }
    let required = config(&format!(r#"{{"mode":"required",{with_verify}}}"#));
    let mut host = forged(envoy_138("alice"));
    assert_eq!(run(&required, &mut host), Outcome::Replied);
    assert_eq!(host.reply.as_ref().map(|r| r.status), Some(403));

    // Opted in: the listener is said to refuse unverified certificates.
    let trusting = config(&format!(r#"{{"assume_verified_by_listener":true,{with_verify}}}"#));
    let mut trusting_state = State::new(4);
    let mut host = forged(envoy_138("alice"));
    on_request_headers(&trusting, &mut host, &mut trusting_state);
    assert_eq!(
        owned(&host, &trusting),
        pairs(&[("x-ssl-client-verify", "SUCCESS"), ("x-ssl-cn", &golden("alice.cn"))])
    );
    // A host that says the chain failed still wins over the opt-in.
    let mut failed = forged(envoy_with_digest("alice").with_property(ENVOY_PEER_CERTIFICATE_VALID, vec![0]));
    on_request_headers(&trusting, &mut failed, &mut State::new(4));
    assert_eq!(failed.header("x-ssl-cn"), None);

    // Which way it went is logged once per VM (plugin state), not per request.
    let logged = |h: &FakeHost| h.logs().iter().filter(|(_, m)| m.contains("peer_certificate_valid")).count();
    let mut first = forged(envoy_138("alice"));
    let mut second = forged(envoy_138("alice"));
    let mut fresh = State::new(4);
    on_request_headers(&cfg, &mut first, &mut fresh);
    on_request_headers(&cfg, &mut second, &mut fresh);
    assert_eq!((logged(&first), logged(&second)), (1, 0), "{:?}", first.logs());
}

#[test]
fn cached_identity_needs_what_a_miss_needs() {
    // Envoy 1.36 (no connection.peer_certificate): with `source: auto` the certificate comes from XFCC. Two
    // listeners share the VM's cache; one sets XFCC, one does not. The second answers the same either way round.
    let cfg = config(r#"{"assume_verified_by_listener":true,"headers":{"x-ssl-cn":"subject.CN"}}"#);
    let digest = golden("alice.sha256");
    let xfcc = format!(r#"Hash={digest};Cert="{}""#, url_encode(&pki("alice.crt")));
    let with_xfcc = || forged(envoy_136("alice").with_header("x-forwarded-client-cert", xfcc.as_str()));
    let without_xfcc = || forged(envoy_136("alice"));

    let mut alone = without_xfcc();
    run(&cfg, &mut alone);
    assert_eq!(alone.header("x-ssl-cn"), None);

    let mut state = State::new(4);
    let mut a = with_xfcc();
    on_request_headers(&cfg, &mut a, &mut state);
    assert_eq!(a.header("x-ssl-cn"), Some(golden("alice.cn")));
    let mut b = without_xfcc();
    on_request_headers(&cfg, &mut b, &mut state);
    assert_eq!(b.header("x-ssl-cn"), None, "a cache filled by another listener must not supply the identity");
    let mut again = with_xfcc();
    on_request_headers(&cfg, &mut again, &mut state);
    assert_eq!(again.header("x-ssl-cn"), Some(golden("alice.cn")));

    // Envoy 1.38 gives the PEM: no XFCC needed on either path.
    let mut state = State::new(4);
    for mut host in [forged(envoy_138("alice")), forged(envoy_138("alice"))] {
        on_request_headers(&cfg, &mut host, &mut state);
        assert_eq!(host.header("x-ssl-cn"), Some(golden("alice.cn")));
    }
}

fn url_encode(s: &[u8]) -> String {
    s.iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(b) {
                char::from(*b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn xfcc_cert_is_taken_only_when_it_matches_the_connection_digest() {
    let cfg = config(r#"{"source":"xfcc","headers":{"x-ssl-cn":"subject.CN"}}"#);
    let alice = url_encode(&pki("alice.crt"));
    let bob = url_encode(&pki("bob.crt"));
    let alice_digest = golden("alice.sha256");
    let good = format!(r#"By=spiffe://proxy;Hash={alice_digest};Cert="{alice}";Subject="CN=x";URI=spiffe://a"#);
    let mut host = xfcc_host(&good, &alice_digest);
    run(&cfg, &mut host);
    assert_eq!(host.header("x-ssl-cn"), Some(golden("alice.cn")));

    let cases = [
        ("forged cert", format!(r#"Hash={alice_digest};Cert="{bob}""#)),
        ("two Cert fields via a SAN", format!(r#"Hash={alice_digest};Cert="{alice}";URI=spiffe://a;Cert="{bob}""#)),
        ("two elements", format!(r#"Cert="{alice}",Cert="{alice}""#)),
        ("no Cert", format!("Hash={alice_digest}")),
    ];
    for (name, xfcc) in cases {
        let mut host = xfcc_host(&xfcc, &alice_digest);
        run(&cfg, &mut host);
        assert_eq!(host.header("x-ssl-cn"), None, "{name}");
        assert!(host.log_text().contains("no identity injected"), "{name}");
    }
}

#[test]
fn auto_host_detection_is_remembered() {
    let cfg = baas();
    for (profile, host) in [(Profile::Envoy, HostKind::Envoy), (Profile::Kong, HostKind::Kong)] {
        let mut state = State::new(4);
        let mut first = forged(verified(profile, &pki("alice.crt")));
        on_request_headers(&cfg, &mut first, &mut state);
        assert_eq!(state.detected_host(), Some(host), "{profile:?}");
        // Later requests go straight to that host's properties.
        let mut again = forged(verified(profile, &pki("alice.crt")));
        on_request_headers(&cfg, &mut again, &mut state);
        assert_eq!(owned(&again, &cfg), owned(&first, &cfg));
    }
    // Kong on plain HTTP: `ngx.ssl_client_verify` is empty, `ngx.nginx_version` still settles it, once.
    let mut state = State::new(4);
    let mut plain = forged(kong());
    on_request_headers(&cfg, &mut plain, &mut state);
    assert_eq!(state.detected_host(), Some(HostKind::Kong));
    assert_eq!(owned(&plain, &cfg), pairs(&[("x-ssl-validate-token", TOKEN)]));
    // An Envoy listener without TLS answers nothing: nothing is decided.
    let mut state = State::new(4);
    let mut plain = forged(FakeHost::new());
    on_request_headers(&cfg, &mut plain, &mut state);
    assert_eq!(state.detected_host(), None);
    assert_eq!(owned(&plain, &cfg), pairs(&[("x-ssl-validate-token", TOKEN)]));
}

#[test]
fn kong_refuses_owned_headers_it_cannot_remove() {
    let required = config(&format!(r#"{{"preset":"baas","validate_token":"{TOKEN}","mode":"required"}}"#));
    for cfg in [baas(), required] {
        for host in [verified(Profile::Kong, &pki("alice.crt")), no_cert(Profile::Kong), kong()] {
            let mut host = forged_always(host);
            let before = host.headers.clone();
            assert_eq!(run(&cfg, &mut host), Outcome::Replied);
            let reply = host.reply.clone().unwrap();
            assert_eq!(reply.status, 400);
            assert_eq!(reply.body, b"bad request: client certificate headers must not come from the client\n");
            // Nothing was written: the host would forward a "removed" header anyway.
            assert_eq!(host.headers, before);
            let logs = host.log_text();
            assert!(logs.contains("owned header X-SSL-Client-CN, which this host cannot remove"), "{logs}");
            assert!(!logs.contains("admin"), "{logs}");
        }
    }
    // A long attacker-chosen name is logged bounded.
    let mut host = kong().with_header(format!("x-ssl-{}", "a".repeat(10_000)), "v");
    assert_eq!(run(&baas(), &mut host), Outcome::Replied);
    let logs = host.log_text();
    assert!(logs.len() < 400 && logs.contains("(10006 bytes)"), "{logs}");
}

#[test]
fn each_local_reply_names_its_reason() {
    // Envoy logs these as %RESPONSE_CODE_DETAILS%: an operator tells a policy refusal from a host failure.
    let cfg = baas();
    let mut write_fails = forged(verified(Profile::Envoy, &pki("alice.crt")));
    write_fails.fail_header_writes = Some(2);
    let mut forged_on_kong = forged_always(verified(Profile::Kong, &pki("alice.crt")));
    let mut non_utf8_name = verified(Profile::Envoy, &pki("alice.crt")).with_header(b"x-ssl-\xff".to_vec(), "x");
    let mut no_host = FakeHost::new().with_failing_property(NGX_NGINX_VERSION, 10);
    for (host, status, details) in [
        (&mut write_fails, 500, "mtls_headers_strip_failed"),
        (&mut forged_on_kong, 400, "mtls_headers_owned_header_from_client"),
        (&mut non_utf8_name, 400, "mtls_headers_owned_header_name_not_utf8"),
        (&mut no_host, 500, "mtls_headers_host_unknown"),
    ] {
        assert_eq!(run(&cfg, host), Outcome::Replied, "{details}");
        let reply = host.reply.clone().unwrap();
        assert_eq!((reply.status, reply.details.as_str()), (status, details));
    }
}

#[test]
fn a_reply_that_cannot_be_sent_closes_the_stream() {
    let cfg = config(r#"{"mode":"required"}"#);
    let mut host = forged(no_cert(Profile::Envoy));
    host.fail_local_reply = Some(2);
    assert_eq!(run(&cfg, &mut host), Outcome::Closed);
    assert!(host.closed && host.reply.is_none());
    assert!(host.log_text().contains("cannot send local reply"), "{}", host.log_text());
}

#[test]
fn forged_header_logs_are_bounded() {
    // A client chooses the names: 50 KB ones, by the hundred, must not become 50 KB of log per request.
    let cfg = baas();
    let long = format!("x-ssl-{}", "a".repeat(50_000));
    let mut envoy = verified(Profile::Envoy, &pki("alice.crt")).with_header(long.as_str(), "x");
    for i in 0..100 {
        envoy = envoy.with_header(format!("x-ssl-forged-{i}"), "x");
    }
    run(&cfg, &mut envoy);
    let log = envoy.log_text();
    assert!(log.len() < 1_000, "{} bytes of log", log.len());
    assert!(log.contains("and 93 more"), "{log}");
    let mut kong = verified(Profile::Kong, &pki("alice.crt")).with_header(long.as_str(), "x");
    run(&cfg, &mut kong);
    assert!(kong.log_text().len() < 400, "{}", kong.log_text());
}

/// RFC 9110 section 5.5: every HTTP recipient strips a value's leading and trailing spaces and tabs, so a CN
/// `" admin "` must not go out as it is (the application would see `admin`).
#[test]
fn values_keep_their_edge_spaces_through_http() {
    let cfg = config(
        r#"{"headers":{"x-ssl-dn":"subject_dn","x-ssl-issuer":"issuer_dn","x-ssl-dn-l":"subject_dn_legacy",
            "x-ssl-issuer-l":"issuer_dn_legacy","x-ssl-cn":"subject.CN","x-ssl-o":"subject.O","x-ssl-ou":"subject.OU",
            "x-ssl-verify":"verify"},"trusted_issuers":["CN=\\ admin\\ ,OU=\\09ops\\09,O=Example\\ "]}"#,
    );
    for profile in PROFILES {
        let mut host = forged(verified(profile, &pki("spaces.crt")));
        assert_eq!(run(&cfg, &mut host), Outcome::Continue);
        // OpenSSL ends both DN forms in a space: `CN=\ admin\ ,OU=\09ops\09,O=Example\ ` and
        // `/O=Example /OU=\x09ops\x09/CN= admin `.
        assert_eq!(
            owned(&host, &cfg),
            pairs(&[
                ("x-ssl-dn", "CN=\\ admin\\ ,OU=\\09ops\\09,O=Example\\20"),
                ("x-ssl-issuer", "CN=\\ admin\\ ,OU=\\09ops\\09,O=Example\\20"),
                ("x-ssl-dn-l", "/O=Example /OU=\\x09ops\\x09/CN= admin\\x20"),
                ("x-ssl-issuer-l", "/O=Example /OU=\\x09ops\\x09/CN= admin\\x20"),
                ("x-ssl-cn", "\\20admin\\20"),
                ("x-ssl-o", "Example\\20"),
                ("x-ssl-ou", "\\09ops\\09"),
                // trusted_issuers in OpenSSL's spelling matches the issuer.
                ("x-ssl-verify", "SUCCESS"),
            ]),
            "{profile:?}"
        );
    }
    let hex_spelling =
        r#"{"headers":{"x-ssl-verify":"verify"},"trusted_issuers":["CN=\\ admin\\ ,OU=\\09ops\\09,O=Example\\20"]}"#;
    let mut host = forged(verified(Profile::Envoy, &pki("spaces.crt")));
    run(&config(hex_spelling), &mut host);
    assert_eq!(host.header("x-ssl-verify").as_deref(), Some("SUCCESS"));
}

/// SAN lists: each value percent-encoded for `%`, `,`, space and every byte outside visible ASCII, then joined with
/// `,`, so a reader splits on `,` and percent-decodes each element. The DNS SAN `café.example` (UTF-8, not IA5) no
/// longer makes the certificate unreadable.
#[test]
fn san_lists_split_only_where_the_certificate_has_two_sans() {
    let cfg = config(
        r#"{"headers":{"x-ssl-dns":"san_dns","x-ssl-uri":"san_uri","x-ssl-email":"san_email","x-ssl-ip":"san_ip",
            "x-ssl-spiffe":"spiffe_id","x-ssl-cn":"subject.CN","x-ssl-verify":"verify"}}"#,
    );
    for profile in PROFILES {
        let mut host = forged(verified(profile, &pki("sans.crt")));
        assert_eq!(run(&cfg, &mut host), Outcome::Continue);
        assert_eq!(
            owned(&host, &cfg),
            pairs(&[
                ("x-ssl-dns", "caf%C3%A9.example,ok.example"),
                // One URI SAN with a comma, not a second (SPIFFE) SAN; `%41` in the certificate is `%2541`.
                (
                    "x-ssl-uri",
                    "https://ok.example/p%2Cspiffe://example.org/ns/prod/sa/admin,https://ok.example/a%20b%2541"
                ),
                ("x-ssl-email", "\"a%2Cb\"@example.com,jos%C3%A9@example.com"),
                // OpenSSL prints 0:0:0:0:0:0:0:1 and 0:0:0:0:0:FFFF:C000:201.
                ("x-ssl-ip", "192.0.2.1,::1,::ffff:192.0.2.1"),
                ("x-ssl-cn", "sans"),
                ("x-ssl-verify", "SUCCESS"),
            ]),
            "{profile:?}"
        );
        assert!(host.logs().iter().all(|(_, line)| !line.contains("no identity")), "{:?}", host.logs());
    }
}

/// The hot path (issue "One core, many hosts"): on Envoy with a warm cache, one header-map read, the digest and the
/// verification flag, the clock; no certificate read and no second probe of which host this is. The first request
/// probes `ngx.nginx_version` once (`host: auto`) and reads the certificate once.
#[test]
fn envoy_warm_cache_reads_only_the_digest_and_the_verification_flag() {
    let cfg = baas();
    let mut state = State::new(4);
    let mut first = forged(envoy_with_digest("alice"));
    first.take_calls();
    assert_eq!(on_request_headers(&cfg, &mut first, &mut state), Outcome::Continue);
    let reads = |host: &FakeHost| -> Vec<String> {
        host.take_calls().into_iter().filter(|c| !c.starts_with("remove ") && !c.starts_with("set")).collect()
    };
    assert_eq!(
        reads(&first),
        [
            "request_headers",
            "property ngx.nginx_version",
            "property connection.sha256_peer_certificate_digest",
            "property connection.peer_certificate_valid",
            "property connection.peer_certificate",
            "now",
        ]
    );
    for _ in 0..2 {
        let mut hit = forged(envoy_with_digest("alice"));
        hit.take_calls();
        assert_eq!(on_request_headers(&cfg, &mut hit, &mut state), Outcome::Continue);
        assert_eq!(
            reads(&hit),
            [
                "request_headers",
                "property connection.sha256_peer_certificate_digest",
                "property connection.peer_certificate_valid",
                "now",
            ]
        );
        assert_eq!(owned(&hit, &cfg), owned(&first, &cfg));
    }
}

/// How a decision is applied, on both hosts: one remove per owned name as the host matches names
/// (case-insensitively; `_` is another name), then one set per header (a map write measured no cheaper on Envoy,
/// BENCHMARKS.md arms (g) to (i), and on ngx_wasm_module it forwards every original header). Nothing to change, no
/// write.
#[test]
fn a_decision_is_one_remove_per_owned_name_then_the_sets() {
    let writes = |host: &FakeHost| -> Vec<String> {
        host.take_calls().into_iter().filter(|c| c.starts_with("remove ") || c.starts_with("set ")).collect()
    };
    let cfg = baas();
    let sets: Vec<String> = cfg.mappings.iter().map(|m| format!("set {}", m.name)).collect();
    let mut envoy = forged(envoy_with_digest("alice"));
    run(&cfg, &mut envoy);
    let removes = ["X-SSL-Client-CN", "X_SSL_CLIENT_CN", "x-ssl-client-certauth-validated", "X-Ssl-Validate-Token"];
    let mut want: Vec<String> = removes.iter().map(|n| format!("remove {n}")).collect();
    want.push("remove x-ssl-anything".to_string());
    want.extend(sets.iter().cloned());
    assert_eq!(writes(&envoy), want);
    let mut kong = forged(verified(Profile::Kong, &pki("alice.crt")));
    run(&cfg, &mut kong);
    assert_eq!(writes(&kong), sets);
    let mut plain = FakeHost::new().with_header(":path", "/");
    run(&Config::default(), &mut plain);
    assert_eq!(writes(&plain), Vec::<String>::new());
}

/// A set that fails after others succeeded (a half-written identity) is answered with 500, never forwarded.
#[test]
fn a_half_written_identity_is_never_forwarded() {
    let cfg = baas();
    let mut host = forged(verified(Profile::Kong, &pki("alice.crt")));
    host.fail_set_of = Some("x-ssl-issuer-dn".to_string());
    assert_eq!(run(&cfg, &mut host), Outcome::Replied);
    let reply = host.reply.clone().unwrap();
    assert_eq!((reply.status, reply.details.as_str()), (500, "mtls_headers_inject_failed"));
    assert!(host.header("x-ssl-client-cn").is_some(), "the test must fail a set after a successful one");
    assert!(host.log_text().contains("cannot set header x-ssl-issuer-dn"), "{}", host.log_text());
}

/// `mode: audit` forwards as `optional` does, and counts and logs each request `required` would refuse (issue 11,
/// part 6); the counters are what the filter reports through proxy-wasm metrics.
#[test]
fn audit_forwards_and_counts_what_required_would_refuse() {
    let cfg = config(r#"{"mode":"audit","headers":{"x-client-verify":"verify","x-client-present":"present"}}"#);
    for profile in PROFILES {
        // One plugin per host: `host: auto` settles once per VM.
        let mut state = State::new(mtls_headers_core::cache::CAPACITY);
        let cases = [
            (no_cert(profile), "NONE", "0", "mtls_headers.verdict.no_certificate", "no client certificate"),
            (
                unverified(profile, &pki("alice.crt")),
                "FAILED:certificate verification failed",
                "1",
                "mtls_headers.verdict.unverified.host",
                "not verified: certificate verification failed",
            ),
        ];
        for (mut host, verify, present, verdict, why) in cases {
            assert_eq!(on_request_headers(&cfg, &mut host, &mut state), Outcome::Continue, "{profile:?}");
            assert_eq!(owned(&host, &cfg), pairs(&[("x-client-verify", verify), ("x-client-present", present)]));
            assert_eq!(host.counters.get(verdict), Some(&1), "{profile:?}: {:?}", host.counters);
            assert_eq!(host.counters.get("mtls_headers.audit.would_refuse"), Some(&1), "{profile:?}");
            let line = format!("audit: mode `required` would refuse this request: {why}");
            assert!(host.logs().iter().any(|(_, l)| *l == line), "{profile:?}: {:?}", host.logs());
        }
        let mut host = verified(profile, &pki("alice.crt"));
        assert_eq!(on_request_headers(&cfg, &mut host, &mut state), Outcome::Continue);
        assert_eq!(host.counters.get("mtls_headers.verdict.verified"), Some(&1), "{profile:?}");
        assert_eq!(host.counters.get("mtls_headers.audit.would_refuse"), None, "{profile:?}");
        assert!(!host.logs().iter().any(|(_, l)| l.starts_with("audit:")), "{profile:?}");
    }
}

/// The counters a verified request, a cache hit and a refused one leave behind.
#[test]
fn counters_for_cache_strips_and_replies() {
    let cfg = config(&format!(r#"{{"preset":"baas","validate_token":"{TOKEN}","mode":"required"}}"#));
    let mut state = State::new(mtls_headers_core::cache::CAPACITY);
    let mut first = forged(envoy_with_digest("alice"));
    on_request_headers(&cfg, &mut first, &mut state);
    let mut second = envoy_with_digest("alice");
    on_request_headers(&cfg, &mut second, &mut state);
    let mut refused = no_cert(Profile::Envoy);
    on_request_headers(&cfg, &mut refused, &mut state);
    let get = |h: &FakeHost, name: &str| h.counters.get(name).copied();
    assert_eq!(get(&first, "mtls_headers.identity_cache.miss"), Some(1));
    assert!(get(&first, "mtls_headers.headers_stripped").is_some_and(|n| n > 1), "{:?}", first.counters);
    assert_eq!(get(&second, "mtls_headers.identity_cache.hit"), Some(1));
    assert_eq!(get(&second, "mtls_headers.headers_stripped"), None);
    assert_eq!(get(&refused, "mtls_headers.reply.certificate_required"), Some(1));
    assert_eq!(get(&refused, "mtls_headers.verdict.no_certificate"), Some(1));
}

/// Envoy's XFCC `Chain=` (every presented certificate, leaf first) gives RFC 9440's `Client-Cert-Chain` only when
/// its first certificate is the connection's; the same bytes on the next request decode nothing and hit the cache.
#[test]
fn chain_is_taken_only_when_it_starts_with_the_connection_certificate() {
    let cfg = config(r#"{"preset":"rfc9440"}"#);
    let digest = golden("alice.sha256");
    let pem_body = |name: &str| -> String {
        String::from_utf8(pki(name)).unwrap().lines().filter(|l| !l.starts_with("-----")).collect()
    };
    let xfcc = |pems: &[&[u8]]| format!(r#"Hash={digest};Chain="{}";Subject="CN=x""#, url_encode(&pems.concat()));
    let with_xfcc = |value: &str| forged(envoy_with_digest("alice").with_header("x-forwarded-client-cert", value));
    let (alice, bob, ca) = (pki("alice.crt"), pki("bob.crt"), pki("ca.crt"));

    let mut state = State::new(4);
    for cache in ["miss", "hit"] {
        let mut host = with_xfcc(&xfcc(&[&alice, &ca]));
        on_request_headers(&cfg, &mut host, &mut state);
        assert_eq!(host.header("client-cert"), Some(format!(":{}:", pem_body("alice.crt"))));
        assert_eq!(host.header("client-cert-chain"), Some(format!(":{}:", pem_body("ca.crt"))));
        assert_eq!(host.counters.get(format!("mtls_headers.identity_cache.{cache}").as_str()), Some(&1));
    }
    // Another chain for the same leaf is another identity: not the cached one.
    let mut host = with_xfcc(&xfcc(&[&alice, &ca, &ca]));
    on_request_headers(&cfg, &mut host, &mut state);
    assert_eq!(host.counters.get("mtls_headers.identity_cache.miss"), Some(&1));
    let ca_item = format!(":{}:", pem_body("ca.crt"));
    assert_eq!(host.header("client-cert-chain"), Some(format!("{ca_item}, {ca_item}")));

    // The leaf alone, or no Chain= (Envoy not told to write it): the leaf, no chain header.
    for value in [xfcc(&[&alice]), format!("Hash={digest}")] {
        let mut host = with_xfcc(&value);
        run(&cfg, &mut host);
        assert!(host.header("client-cert").is_some() && host.header("client-cert-chain").is_none(), "{value}");
    }
    let mut host = forged(envoy_with_digest("alice"));
    run(&cfg, &mut host);
    assert!(host.header("client-cert").is_some() && host.header("client-cert-chain").is_none());
    assert!(host.log_text().contains("no presented chain"));

    let not_a_certificate = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".as_slice();
    let cases = [
        ("another leaf first", xfcc(&[&bob, &ca])),
        ("a chain item that is no certificate", xfcc(&[&alice, not_a_certificate])),
        ("two Chain fields via a SAN", format!("{};URI=a;Chain=\"{}\"", xfcc(&[&alice]), url_encode(&ca))),
    ];
    for (name, value) in cases {
        let mut host = with_xfcc(&value);
        run(&cfg, &mut host);
        assert_eq!(host.header("client-cert"), None, "{name}");
        assert!(host.log_text().contains("no identity injected"), "{name}");
    }
}

/// Kong: a verified connection (`ngx.connection`) is remembered, so its next requests read neither
/// `ngx.ssl_client_verify` nor the PEM; another connection reads both. On an identity cache miss the PEM is read
/// again and must still be the connection's certificate.
#[test]
fn kong_remembers_verified_connections() {
    let cfg = baas();
    let on = |host: FakeHost, n: &str| forged(host.with_property(NGX_CONNECTION, n.to_string()));
    let mut state = State::new(4);
    let mut first = on(verified(Profile::Kong, &pki("alice.crt")), "7");
    on_request_headers(&cfg, &mut first, &mut state);
    assert_eq!(first.header("x-ssl-client-cn"), Some(golden("alice.cn")));
    // The same connection: nothing else answered, the identity stays.
    let mut again = on(kong(), "7");
    on_request_headers(&cfg, &mut again, &mut state);
    assert_eq!(owned(&again, &cfg), owned(&first, &cfg));
    // Another connection is read in full: without a certificate, the token alone.
    let mut other = on(no_cert(Profile::Kong), "8");
    on_request_headers(&cfg, &mut other, &mut state);
    assert_eq!(owned(&other, &cfg), pairs(&[("x-ssl-validate-token", TOKEN)]));

    // One cached identity: bob's connection evicts alice's identity, and connection 7's next request reads its PEM.
    let mut state = State::new(1);
    on_request_headers(&cfg, &mut on(verified(Profile::Kong, &pki("alice.crt")), "7"), &mut state);
    on_request_headers(&cfg, &mut on(verified(Profile::Kong, &pki("bob.crt")), "9"), &mut state);
    let mut changed = on(kong().with_property(NGX_SSL_CLIENT_RAW_CERT, pki("bob.crt")), "7");
    on_request_headers(&cfg, &mut changed, &mut state);
    assert_eq!(owned(&changed, &cfg), pairs(&[]), "fails closed: an unreadable answer sends nothing");
    assert!(changed.log_text().contains("certificate changed"));
    let mut reread = on(kong().with_property(NGX_SSL_CLIENT_RAW_CERT, pki("alice.crt")), "7");
    on_request_headers(&cfg, &mut reread, &mut state);
    assert_eq!(owned(&reread, &cfg), owned(&first, &cfg));
}

//! The filter's per-request cost through the built `.wasm`, in the wasmtime test host (Cranelift, not Envoy's V8:
//! absolute numbers differ, ratios carry over): a no-op proxy-wasm filter built the same way as the baseline, then
//! mtls-headers with the identity cache hit (one client on a keep-alive connection) and missed (more distinct
//! clients than the cache holds). `baas` signed (RFC 9421) with the cache hit, on the same path and on a new path
//! each request (the identity's memo of request targets then misses). The same unsigned cases natively (`native/...`: the adapter and core compiled for this
//! machine, src/native.rs) under the same host model. `make bench-micro`; results in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use sha2::{Digest, Sha256};
use wasmhost::native::NativePlugin;
use wasmhost::{Connection, Filter, Options, PeerCert, Profile, Request};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn load(path: &str) -> Filter {
    Filter::from_file(&repo(path)).unwrap_or_else(|e| panic!("{e:#}: run `make build noop` first"))
}

/// `n` distinct self-signed client certificates (made once with openssl, kept under target/): a UTF-8 subject
/// with a UID, like the test PKI's alice, so formatting costs what it does for real clients.
fn certs(n: usize) -> Vec<PeerCert> {
    let dir = repo("target/bench-certs");
    std::fs::create_dir_all(&dir).unwrap();
    (0..n)
        .map(|i| {
            let crt = dir.join(format!("c{i}.crt"));
            if !crt.exists() {
                let status = Command::new("openssl")
                    .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-utf8"])
                    .args(["-days", "3650", "-keyout"])
                    .arg(dir.join(format!("c{i}.key")))
                    .arg("-out")
                    .arg(&crt)
                    .args([
                        "-subj",
                        &format!(
                            "/C=JP/O=\u{5c71}\u{7530}\u{5546}\u{4e8b}/OU=Dev, Ops/CN=\u{592a}\u{90ce}{i}/UID=user{i}"
                        ),
                    ])
                    .output()
                    .unwrap()
                    .status;
                assert!(status.success());
            }
            let pem = std::fs::read_to_string(&crt).unwrap();
            let der = mtls_headers_core::cert::pem_to_der(pem.as_bytes()).unwrap();
            let sha256_hex = Sha256::digest(&der).iter().map(|b| format!("{b:02x}")).collect();
            PeerCert { pem, sha256_hex, ..PeerCert::default() }
        })
        .collect()
}

fn request() -> Request {
    Request::get("/v1/orders?id=42")
        .header("user-agent", "oha/1.16.0")
        .header("accept", "*/*")
        .header("x-request-id", "6b1c7c3e-8f59-4d7e-9a43-3f8f3a8a2b10")
}

fn bench(c: &mut Criterion) {
    let noop = load("target/wasm32-wasip1/release/mtls_headers_noop.wasm");
    let filter = load("target/wasm32-wasip1/release/mtls_headers.wasm");
    let clients = certs(mtls_headers_core::cache::CAPACITY + 6);
    let req = request();
    let mut group = c.benchmark_group("wasm");
    for profile in [Profile::Envoy, Profile::Kong] {
        let name = format!("{profile:?}").to_lowercase();
        let one = Connection::verified(clients[0].clone());
        let mut plugin = noop.start(Options::new(profile, "")).unwrap();
        group.bench_function(format!("noop/{name}"), |b| b.iter(|| plugin.request(&one, &req).unwrap()));
        for (preset, json) in [
            ("baas", r#"{"preset":"baas","validate_token":"bench-token"}"#),
            ("cloudflare", r#"{"preset":"cloudflare"}"#),
        ] {
            let mut plugin = filter.start(Options::new(profile, json)).unwrap();
            assert!(plugin.configured);
            let x = plugin.request(&one, &req).unwrap();
            assert!(x.forwarded() && x.headers.len() > 8, "{x:?}");
            group.bench_function(format!("{preset}/{name}/cache-hit"), |b| {
                b.iter(|| plugin.request(&one, &req).unwrap())
            });
            // Round-robin over more clients than the cache holds: every request is a miss.
            let conns: Vec<Connection> = clients.iter().cloned().map(Connection::verified).collect();
            let mut i = 0;
            group.bench_function(format!("{preset}/{name}/cache-miss"), |b| {
                b.iter(|| {
                    i = (i + 1) % conns.len();
                    plugin.request(&conns[i], &req).unwrap()
                })
            });
            let mut native = NativePlugin::start(&Options::new(profile, json));
            assert_eq!(native.request(&one, &req).unwrap().headers, x.headers);
            group.bench_function(format!("native/{preset}/{name}/cache-hit"), |b| {
                b.iter(|| native.request(&one, &req).unwrap())
            });
            group.bench_function(format!("native/{preset}/{name}/cache-miss"), |b| {
                b.iter(|| {
                    i = (i + 1) % conns.len();
                    native.request(&conns[i], &req).unwrap()
                })
            });
        }
        let mut options = Options::new(profile, SIGNED);
        options.env = vec![(SIGN_ENV.into(), "bench-signing-key-of-at-least-32-bytes".into())];
        let mut plugin = filter.start(options).unwrap();
        let x = plugin.request(&one, &req).unwrap();
        assert!(x.forwarded() && x.headers.iter().any(|(n, _)| n == b"signature"), "{x:?}");
        group.bench_function(format!("baas-signed/{name}/cache-hit"), |b| {
            b.iter(|| plugin.request(&one, &req).unwrap())
        });
        // More paths than an identity remembers, in turn: every request hashes its target.
        let paths: Vec<Request> = (0..64).map(|i| Request::get(&format!("/v1/orders/{i}?id=42"))).collect();
        let mut i = 0;
        group.bench_function(format!("baas-signed/{name}/cache-hit-new-path"), |b| {
            b.iter(|| {
                i = (i + 1) % paths.len();
                plugin.request(&one, &paths[i]).unwrap()
            })
        });
    }
    group.finish();
}

const SIGN_ENV: &str = "MTLS_HEADERS_SIGNING_KEY";
const SIGNED: &str =
    r#"{"preset":"baas","validate_token":"bench-token","sign":{"key_env":"MTLS_HEADERS_SIGNING_KEY"}}"#;

criterion_group!(benches, bench);
criterion_main!(benches);

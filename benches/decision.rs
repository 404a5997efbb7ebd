//! The filter's own per-request cost, natively: the whole request decision (strip, read the certificate, enforce,
//! inject) through the state-based fake host, with the identity cache hit (a keep-alive connection's second
//! request) and missed (every request parses the certificate). `make bench-micro`; results in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mtls_headers::adapter::{on_request_headers, Outcome, State};
use mtls_headers::catalog::{
    ENVOY_MTLS, ENVOY_PEER_CERTIFICATE, ENVOY_PEER_CERTIFICATE_VALID, ENVOY_SHA256_PEER_DIGEST,
    NGX_SSL_CLIENT_RAW_CERT, NGX_SSL_CLIENT_VERIFY,
};
use mtls_headers::fake::FakeHost;
use mtls_headers_core::cache::CAPACITY;
use mtls_headers_core::config::Config;

fn pki(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/pki/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A typical request: pseudo-headers, a handful of ordinary headers, no forged ones.
fn request(host: FakeHost) -> FakeHost {
    host.with_header(":authority", "api.example")
        .with_header(":path", "/v1/orders?id=42")
        .with_header(":method", "GET")
        .with_header(":scheme", "https")
        .with_header("user-agent", "oha/1.16.0")
        .with_header("accept", "*/*")
        .with_header("x-forwarded-proto", "https")
        .with_header("x-request-id", "6b1c7c3e-8f59-4d7e-9a43-3f8f3a8a2b10")
}

fn envoy() -> FakeHost {
    request(
        FakeHost::new()
            .with_property(ENVOY_MTLS, vec![1])
            .with_property(ENVOY_PEER_CERTIFICATE_VALID, vec![1])
            .with_property(ENVOY_PEER_CERTIFICATE, pki("alice.crt"))
            .with_property(ENVOY_SHA256_PEER_DIGEST, String::from_utf8(pki("alice.sha256")).unwrap().trim()),
    )
}

fn kong() -> FakeHost {
    request(
        FakeHost::new()
            .with_property(NGX_SSL_CLIENT_VERIFY, "SUCCESS")
            .with_property(NGX_SSL_CLIENT_RAW_CERT, pki("alice.crt")),
    )
}

fn bench(c: &mut Criterion) {
    let configs =
        [("baas", r#"{"preset":"baas","validate_token":"bench-token"}"#), ("cloudflare", r#"{"preset":"cloudflare"}"#)];
    type MakeHost = fn() -> FakeHost;
    let hosts: [(&str, MakeHost); 2] = [("envoy", envoy), ("kong", kong)];
    let mut group = c.benchmark_group("decision");
    for (preset, json) in configs {
        let cfg = Config::parse(json.as_bytes(), &|_| None).unwrap();
        for (host_name, make) in hosts {
            let template = make();
            for (cache_name, capacity) in [("hit", CAPACITY), ("miss", 0)] {
                let mut cache = State::new(capacity);
                let mut warm = template.clone();
                assert_eq!(on_request_headers(&cfg, &mut warm, &mut cache), Outcome::Continue);
                assert!(warm.header("x-ssl-client-cn").is_some() || warm.header("x-cert-subject-dn").is_some());
                group.bench_function(format!("{preset}/{host_name}/cache-{cache_name}"), |b| {
                    b.iter_batched_ref(
                        || template.clone(),
                        |host| on_request_headers(&cfg, host, &mut cache),
                        BatchSize::SmallInput,
                    )
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Arbitrary bytes as the plugin configuration: `Config::parse` never panics, an accepted configuration holds what
//! the filter relies on, and a refusal names a field the document has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_headers_core::config::{Config, Field};
use mtls_headers_core::headers::{is_header_safe, normalize_name, valid_header_name};
use mtls_headers_core::json::{self, Json};

/// The VM environment `validate_token_env` reads: one usable token, one a header cannot carry, one empty.
fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("t0ken-from-env".to_string()),
        "BAD_TOKEN" => Some("two words\r\n".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// Header names the filter must never write (README: the configuration reference refuses them).
const FORBIDDEN: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "x-forwarded-client-cert",
];

fuzz_target!(|data: &[u8]| {
    let parsed = Config::parse(data, &env);
    // The reader is deterministic: the same bytes, the same verdict.
    assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::parse(data, &env)));
    let whitespace = data.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    let document = if whitespace { Ok(Json::Object(Vec::new())) } else { json::parse(data) };
    match parsed {
        Ok(cfg) => {
            assert!(matches!(document, Ok(Json::Object(_))), "accepted something that is not a JSON object");
            check(&cfg);
        }
        Err(e) => {
            // `(root)` for what is not a JSON object; otherwise a top-level key of the document or a `headers.` entry.
            match document {
                Ok(Json::Object(entries)) => {
                    let named = entries.iter().any(|(k, _)| *k == e.field);
                    let header = e.field.strip_prefix("headers.").is_some_and(|name| {
                        entries.iter().any(|(k, v)| {
                            k == "headers" && matches!(v, Json::Object(h) if h.iter().any(|(n, _)| n == name))
                        })
                    });
                    assert!(named || header, "error names `{}`, which the document does not have: {e}", e.field);
                }
                _ => assert_eq!(e.field, "(root)", "{e}"),
            }
        }
    }
});

/// What an accepted configuration guarantees the filter.
fn check(cfg: &Config) {
    let mut normalized: Vec<String> = Vec::new();
    for m in &cfg.mappings {
        assert!(valid_header_name(&m.name), "mapping name {:?} is not a header name", m.name);
        assert_eq!(*m.name, m.name.to_ascii_lowercase(), "mapping names are lower case");
        assert!(!FORBIDDEN.contains(&&*m.name), "writes {}", m.name);
        // Every header the filter writes is one it strips first, in every spelling.
        for spelling in [m.name.to_ascii_uppercase(), m.name.replace('-', "_")] {
            assert!(cfg.owns(spelling.as_bytes()), "does not own {spelling}");
        }
        let n = normalize_name(&m.name);
        assert!(!normalized.contains(&n), "two mappings write {n}");
        normalized.push(n);
        match &m.field {
            Field::Static(v) => assert!(is_header_safe(v.as_bytes()), "static value {v:?}"),
            Field::ValidateToken => assert!(cfg.validate_token.is_some(), "token header without a token"),
            _ => {}
        }
    }
    if let Some(token) = &cfg.validate_token {
        let t = token.expose();
        assert!(!t.is_empty() && t.bytes().all(|b| (0x21..=0x7e).contains(&b)), "token is not visible ASCII");
        // `Debug` does not depend on the token: the same text as without one, but for the redacted marker.
        let without = Config { validate_token: None, ..cfg.clone() };
        let shown = format!("{cfg:?}").replace("Some(Secret(<redacted>))", "None");
        assert_eq!(shown, format!("{without:?}"), "Debug shows the token");
    }
    for p in cfg.owned.prefixes() {
        assert!(!p.is_empty() && valid_header_name(p) && *p == normalize_name(p), "prefix {p:?}");
        assert!(cfg.owns(format!("{}-anything", p.to_ascii_uppercase()).as_bytes()));
    }
    for n in cfg.owned.names() {
        assert!(valid_header_name(n) && *n == normalize_name(n), "strip name {n:?}");
        assert!(cfg.owns(n.as_bytes()));
    }
    assert!(cfg.owned.names().windows(2).all(|w| w[0] < w[1]), "strip names sorted, no duplicates");
    assert!((400..=599).contains(&cfg.reject_status));
    assert!(cfg.reject_body.len() <= 1024);
    assert!(cfg.trusted_issuers.iter().all(|i| !i.is_empty()));
}

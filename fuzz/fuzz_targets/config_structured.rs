//! Structured configurations: a small model of every field (right and wrong types, near-miss words, header names in
//! any case and spelling, forbidden names, every field kind, tokens with bad bytes, environment variables), written
//! as JSON by serde_json and parsed by `Config::parse`. A simple judge written from the README's configuration
//! reference says which fields are wrong, independently of the parser: the parser accepts exactly when none is, and
//! otherwise names one of them; an accepted configuration carries what the document says; an error never shows the
//! token.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mtls_headers_core::cert::dn;
use mtls_headers_core::config::{Config, Mode};
use serde_json::{Map, Number, Value};

#[derive(Arbitrary, Debug)]
struct Model {
    mode: Gen<Word>,
    host: Gen<Word>,
    source: Gen<Word>,
    preset: Gen<Word>,
    headers: Gen<Vec<(HeaderName, FieldName)>>,
    strip_prefixes: Gen<Vec<HeaderName>>,
    strip_headers: Gen<Vec<HeaderName>>,
    validate_token: Gen<Token>,
    validate_token_env: Gen<Word>,
    utf8: Gen<bool>,
    check_validity: Gen<bool>,
    assume_verified_by_listener: Gen<bool>,
    trusted_issuers: Gen<Vec<String>>,
    reject_status: Gen<Status>,
    reject_body: Gen<Body>,
    unknown: Option<(String, Junk)>,
}

/// A field: absent, `null`, a value of the right type (maybe a wrong value), or any JSON.
#[derive(Arbitrary, Debug)]
enum Gen<T> {
    Absent,
    Null,
    Is(T),
    Any(Junk),
}

#[derive(Arbitrary, Debug)]
enum Junk {
    Int(i64),
    Bool(bool),
    Text(String),
    Ints(Vec<i8>),
    Texts(Vec<String>),
    Object(Vec<(String, String)>),
}

/// A word from the configuration's vocabulary (every enum value, near misses, environment variable names), or text.
#[derive(Arbitrary, Debug)]
enum Word {
    Known(u8),
    Text(String),
}

const WORDS: &[&str] = &[
    "optional",
    "required",
    "audit",
    "auto",
    "envoy",
    "kong",
    "property",
    "xfcc",
    "none",
    "baas",
    "cloudflare",
    "rfc9440",
    "Required",
    "required ",
    "nginx",
    "TOKEN",
    "BAD_TOKEN",
    "EMPTY",
    "UNSET",
    "",
];

#[derive(Arbitrary, Debug)]
enum HeaderName {
    /// A listed name; `style` bits: upper case, `_` for `-`, a suffix byte.
    Known {
        which: u8,
        style: u8,
    },
    Text(String),
}

const NAMES: &[&str] = &[
    "x-ssl-client-cn",
    "x-ssl-validate-token",
    "x-cert-serial",
    "client-cert",
    "x-ssl",
    "x-a",
    "x-a_b",
    "x-a-b",
    "host",
    "Host",
    "te",
    "connection",
    "x-forwarded-client-cert",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    ":path",
    "a b",
    "x-é",
    "",
];

#[derive(Arbitrary, Debug)]
enum FieldName {
    Simple(u8),
    Static(String),
    Attribute { subject: bool, which: u8 },
    Dotted { subject: bool, arcs: Vec<u32> },
    Text(String),
}

/// The README's field table.
const SIMPLE: &[&str] = &[
    "subject_dn",
    "issuer_dn",
    "subject_dn_legacy",
    "issuer_dn_legacy",
    "serial",
    "fingerprint_sha1",
    "fingerprint_sha256",
    "cert_der_base64",
    "cert_pem_urlencoded",
    "client_cert_rfc9440",
    "client_cert_chain_rfc9440",
    "not_before",
    "not_after",
    "san_dns",
    "san_uri",
    "san_email",
    "san_ip",
    "spiffe_id",
    "verify",
    "validated",
    "validate_token",
];

/// `Secret` plus hex digits, with an ending that may make it unusable; or any text.
#[derive(Arbitrary, Debug)]
enum Token {
    Secret { id: u64, ending: u8 },
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Status {
    Known(u8),
    Int(i64),
    Float(f64),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Repeat(u16),
    Text(String),
}

const KNOWN_FIELDS: &[&str] = &[
    "mode",
    "host",
    "source",
    "preset",
    "headers",
    "strip_prefixes",
    "strip_headers",
    "validate_token",
    "validate_token_env",
    "utf8",
    "check_validity",
    "assume_verified_by_listener",
    "trusted_issuers",
    "reject_status",
    "reject_body",
];

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

const BAAS: &[(&str, &str)] = &[
    ("x-ssl-client-certauth-validated", "validated"),
    ("x-ssl-client-serial", "serial"),
    ("x-ssl-client-cn", "subject.CN"),
    ("x-ssl-client-uid", "subject.UID"),
    ("x-ssl-issuer-dn", "issuer_dn"),
    ("x-ssl-validate-token", "validate_token"),
];
const CLOUDFLARE: &[&str] = &[
    "cf-client-cert-der-base64",
    "cf-client-cert-sha256",
    "x-cert-issuer-dn",
    "x-cert-subject-dn",
    "x-cert-issuer-dn-l",
    "x-cert-subject-dn-l",
    "x-cert-serial",
    "x-cert-finger",
    "x-cert-verify",
    "x-cert-notbe",
    "x-cert-notaf",
];

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("t0ken-from-env".to_string()),
        "BAD_TOKEN" => Some("two words".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

impl Junk {
    fn json(&self) -> Value {
        match self {
            Junk::Int(i) => Value::from(*i),
            Junk::Bool(b) => Value::from(*b),
            Junk::Text(s) => Value::from(s.as_str()),
            Junk::Ints(v) => Value::from(v.iter().map(|i| Value::from(*i)).collect::<Vec<_>>()),
            Junk::Texts(v) => Value::from(v.clone()),
            Junk::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect()),
        }
    }
}

impl HeaderName {
    fn text(&self) -> String {
        match self {
            HeaderName::Text(s) => s.clone(),
            HeaderName::Known { which, style } => {
                let mut s = pick(NAMES, *which).to_string();
                if style & 1 != 0 {
                    s = s.to_ascii_uppercase();
                }
                if style & 2 != 0 {
                    s = s.replace('-', "_");
                }
                if style & 4 != 0 {
                    s.push(char::from(style >> 3));
                }
                s
            }
        }
    }
}

impl FieldName {
    fn text(&self) -> String {
        let side = |subject: bool| if subject { "subject." } else { "issuer." };
        match self {
            FieldName::Simple(i) => pick(SIMPLE, *i).to_string(),
            FieldName::Static(s) => format!("static:{s}"),
            FieldName::Attribute { subject, which } => {
                let names: Vec<&str> = dn::attribute_types().map(|(_, sn)| sn).collect();
                format!("{}{}", side(*subject), pick(&names, *which))
            }
            FieldName::Dotted { subject, arcs } => {
                let arcs: Vec<String> = arcs.iter().take(12).map(u32::to_string).collect();
                format!("{}{}", side(*subject), arcs.join("."))
            }
            FieldName::Text(s) => s.clone(),
        }
    }
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Secret { id, ending } => {
                let ending = ["", " ", "\r\nX-Injected: 1", "\u{7f}", "é", "\t"][usize::from(*ending) % 6];
                format!("Secret{id:016x}{ending}")
            }
            Token::Text(s) => s.clone(),
        }
    }
}

fn gen<T>(map: &mut Map<String, Value>, key: &str, g: &Gen<T>, json: impl Fn(&T) -> Option<Value>) {
    let v = match g {
        Gen::Absent => return,
        Gen::Null => Value::Null,
        Gen::Is(t) => match json(t) {
            Some(v) => v,
            None => return,
        },
        Gen::Any(j) => j.json(),
    };
    map.insert(key.to_string(), v);
}

fn word(w: &Word) -> Option<Value> {
    Some(Value::from(match w {
        Word::Known(i) => pick(WORDS, *i).to_string(),
        Word::Text(s) => s.clone(),
    }))
}

fn names(v: &[HeaderName]) -> Option<Value> {
    Some(Value::from(v.iter().take(8).map(HeaderName::text).collect::<Vec<_>>()))
}

impl Model {
    fn json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        gen(&mut m, "mode", &self.mode, word);
        gen(&mut m, "host", &self.host, word);
        gen(&mut m, "source", &self.source, word);
        gen(&mut m, "preset", &self.preset, word);
        gen(&mut m, "headers", &self.headers, |h| {
            Some(Value::Object(h.iter().take(8).map(|(n, f)| (n.text(), Value::from(f.text()))).collect()))
        });
        gen(&mut m, "strip_prefixes", &self.strip_prefixes, |v| names(v));
        gen(&mut m, "strip_headers", &self.strip_headers, |v| names(v));
        gen(&mut m, "validate_token", &self.validate_token, |t| Some(Value::from(t.text())));
        gen(&mut m, "validate_token_env", &self.validate_token_env, word);
        gen(&mut m, "utf8", &self.utf8, |b| Some(Value::from(*b)));
        gen(&mut m, "check_validity", &self.check_validity, |b| Some(Value::from(*b)));
        gen(&mut m, "assume_verified_by_listener", &self.assume_verified_by_listener, |b| Some(Value::from(*b)));
        gen(&mut m, "trusted_issuers", &self.trusted_issuers, |v| Some(Value::from(v.clone())));
        gen(&mut m, "reject_status", &self.reject_status, |s| match s {
            Status::Known(i) => Some(Value::from([400u32, 403, 599, 399, 600, 200, 0][usize::from(*i) % 7])),
            Status::Int(i) => Some(Value::from(*i)),
            Status::Float(f) => Number::from_f64(*f).map(Value::Number),
        });
        gen(&mut m, "reject_body", &self.reject_body, |b| {
            Some(Value::from(match b {
                Body::Repeat(n) => "é".repeat(usize::from(*n) % 600),
                Body::Text(s) => s.clone(),
            }))
        });
        if let Some((k, j)) = &self.unknown {
            m.insert(k.clone(), j.json());
        }
        m
    }
}

/// RFC 9110 section 5.6.2 token.
fn token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn fold(s: &str) -> String {
    s.to_ascii_lowercase().replace('_', "-")
}

fn field_ok(f: &str) -> bool {
    if SIMPLE.contains(&f) {
        return true;
    }
    if let Some(v) = f.strip_prefix("static:") {
        return v.chars().all(|c| c == '\t' || (c >= ' ' && c != '\u{7f}'));
    }
    match f.strip_prefix("subject.").or_else(|| f.strip_prefix("issuer.")) {
        Some(attr) => dn::attribute_oid(attr).is_some(),
        None => false,
    }
}

fn visible_ascii(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The judge: the fields the document gets wrong, each as the error would name it.
fn wrong(m: &Map<String, Value>) -> BTreeSet<String> {
    let mut bad = BTreeSet::new();
    let get = |k: &str| m.get(k).filter(|v| !v.is_null());
    for k in m.keys().filter(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        bad.insert(k.clone());
    }
    for (key, options) in [
        ("mode", &["optional", "required", "audit"][..]),
        ("host", &["auto", "envoy", "kong"]),
        ("source", &["auto", "property", "xfcc"]),
        ("preset", &["none", "baas", "cloudflare", "rfc9440"]),
    ] {
        if get(key).is_some_and(|v| !v.as_str().is_some_and(|s| options.contains(&s))) {
            bad.insert(key.to_string());
        }
    }
    let preset: Vec<(String, String)> = match get("preset").and_then(Value::as_str) {
        Some("baas") => BAAS.iter().map(|(n, f)| (n.to_string(), f.to_string())).collect(),
        Some("cloudflare") => CLOUDFLARE.iter().map(|n| (n.to_string(), String::new())).collect(),
        Some("rfc9440") => [("client-cert", "client_cert_rfc9440"), ("client-cert-chain", "client_cert_chain_rfc9440")]
            .iter()
            .map(|(n, f)| (n.to_string(), f.to_string()))
            .collect(),
        _ => Vec::new(),
    };
    // Custom mappings, in the parser's (sorted) order; the ones that pass on their own are checked for folding.
    let mut custom: Vec<(String, String, String)> = Vec::new();
    match get("headers") {
        None => {}
        Some(Value::Object(h)) if h.values().all(Value::is_string) => {
            for (name, field) in h {
                let field = field.as_str().unwrap_or_default();
                let lower = name.to_ascii_lowercase();
                let key = format!("headers.{name}");
                // Wrong on its own, or folding together with an earlier custom mapping that is right.
                let folds = custom.iter().any(|(_, l, _)| fold(l) == fold(&lower));
                if !token(&lower) || FORBIDDEN.contains(&lower.as_str()) || !field_ok(field) || folds {
                    bad.insert(key);
                } else {
                    custom.push((name.clone(), lower, field.to_string()));
                }
            }
        }
        Some(_) => {
            bad.insert("headers".to_string());
        }
    }
    for key in ["strip_prefixes", "strip_headers"] {
        let names_ok = |items: &[Value]| items.iter().all(|i| i.as_str().is_some_and(token));
        if get(key).is_some_and(|v| !v.as_array().is_some_and(|items| names_ok(items))) {
            bad.insert(key.to_string());
        }
    }
    let token_value = get("validate_token");
    let token_env = get("validate_token_env");
    let mut has_token = false;
    match token_value {
        Some(Value::String(t)) if visible_ascii(t) => has_token = true,
        Some(_) => {
            bad.insert("validate_token".to_string());
        }
        None => {}
    }
    match token_env {
        Some(Value::String(var)) if env(var).is_some_and(|t| visible_ascii(&t)) => has_token = true,
        Some(_) => {
            bad.insert("validate_token_env".to_string());
        }
        None => {}
    }
    if token_value.is_some() && token_env.is_some() {
        bad.insert("validate_token_env".to_string());
    }
    // The first mapping that writes the token, preset mappings (those custom ones do not replace) first.
    let kept = preset.iter().filter(|(n, _)| !custom.iter().any(|(_, l, _)| fold(l) == fold(n)));
    let first_token = kept
        .filter(|(_, f)| f == "validate_token")
        .map(|_| "preset".to_string())
        .chain(custom.iter().filter(|(_, _, f)| f == "validate_token").map(|(n, _, _)| format!("headers.{n}")))
        .next();
    if let (Some(field), false) = (first_token, has_token) {
        bad.insert(field);
    }
    for key in ["utf8", "check_validity", "assume_verified_by_listener"] {
        if get(key).is_some_and(|v| !v.is_boolean()) {
            bad.insert(key.to_string());
        }
    }
    match get("trusted_issuers") {
        None => {}
        Some(Value::Array(items)) if items.iter().all(|i| i.as_str().is_some_and(|s| !s.is_empty())) => {}
        Some(_) => {
            bad.insert("trusted_issuers".to_string());
        }
    }
    if get("reject_status").is_some_and(|v| !v.as_u64().is_some_and(|s| (400..=599).contains(&s))) {
        bad.insert("reject_status".to_string());
    }
    if get("reject_body").is_some_and(|v| v.as_str().is_none_or(|b| b.len() > 1024)) {
        bad.insert("reject_body".to_string());
    }
    bad
}

fuzz_target!(|model: Model| {
    let map = model.json();
    let text = serde_json::to_vec(&Value::Object(map.clone())).unwrap();
    let bad = wrong(&map);
    match Config::parse(&text, &env) {
        Err(e) => {
            assert!(
                bad.contains(&e.field),
                "refused naming `{}` ({e}); the judge finds {bad:?} in {}",
                e.field,
                String::from_utf8_lossy(&text)
            );
            // The token, where it is distinctive (made by this model, once in the document), is never shown.
            if let Gen::Is(Token::Secret { id, .. }) = &model.validate_token {
                let marker = format!("Secret{id:016x}");
                let once = String::from_utf8_lossy(&text).matches(&marker).count() == 1;
                assert!(!once || !e.to_string().contains(&marker), "error shows the token: {e}");
            }
        }
        Ok(cfg) => {
            assert!(bad.is_empty(), "accepted; the judge finds {bad:?} in {}", String::from_utf8_lossy(&text));
            accepted(&map, &cfg);
        }
    }
});

/// An accepted configuration carries what the document says.
fn accepted(m: &Map<String, Value>, cfg: &Config) {
    let get = |k: &str| m.get(k).filter(|v| !v.is_null());
    let s = |k: &str| get(k).and_then(Value::as_str);
    assert_eq!(cfg.mode == Mode::Required, s("mode") == Some("required"));
    let b = |k: &str, default: bool| get(k).and_then(Value::as_bool).unwrap_or(default);
    assert_eq!(cfg.utf8, b("utf8", false));
    assert_eq!(cfg.check_validity, b("check_validity", true));
    assert_eq!(cfg.assume_verified_by_listener, b("assume_verified_by_listener", false));
    assert_eq!(u64::from(cfg.reject_status), get("reject_status").and_then(Value::as_u64).unwrap_or(403));
    let token = s("validate_token").map(str::to_string).or_else(|| s("validate_token_env").and_then(env));
    assert_eq!(cfg.validate_token.as_ref().map(|t| t.expose().to_string()), token);
    let issuers: Vec<String> =
        get("trusted_issuers").map(|v| serde_json::from_value(v.clone()).unwrap()).unwrap_or_default();
    assert_eq!(cfg.trusted_issuers, issuers);
    // Every custom header is mapped under its lower-case name, and owned in every spelling.
    if let Some(Value::Object(h)) = get("headers") {
        for name in h.keys() {
            let lower = name.to_ascii_lowercase();
            assert_eq!(cfg.mappings.iter().filter(|m| *m.name == lower).count(), 1, "{name}");
            for spelling in [name.clone(), lower.to_ascii_uppercase(), lower.replace('-', "_")] {
                assert!(cfg.owns(spelling.as_bytes()), "{spelling}");
            }
        }
    }
    for key in ["strip_headers", "strip_prefixes"] {
        for name in get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            let probe = if key == "strip_prefixes" { format!("{}-x", name.to_ascii_uppercase()) } else { fold(name) };
            assert!(cfg.owns(probe.as_bytes()), "{key}: {probe}");
        }
    }
    if get("strip_prefixes").is_none() {
        assert!(cfg.owns(b"X_SSL_anything"));
    }
}

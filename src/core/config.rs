//! Plugin configuration: JSON in, validated [`Config`] out, once per `on_configure`.
//!
//! Unknown fields are refused (a typo such as `"requird"` must not silently weaken the filter), and every error names
//! the field it is about. Secrets never appear in errors or `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use x509_cert::der::oid::ObjectIdentifier;

use crate::budget;
use crate::cert::dn;
pub use crate::formats::Gcp;
use crate::headers::{is_header_safe, normalize_name, valid_header_name, Owned};
use crate::json::{self, Json};
use crate::policy::{self, SanAllow};
use crate::registry;
use crate::sign::{self, Signing};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Strip, and inject when a verified certificate is present.
    Optional,
    /// Anything but a verified certificate gets a local reply.
    Required,
    /// As `Optional`, and each request `Required` would refuse is counted and logged with the reason.
    Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Auto,
    Envoy,
    Kong,
}

/// Where Envoy's certificate comes from (see `host::read_peer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Auto,
    Property,
    Xfcc,
}

/// What a header carries. Identity fields are injected only for a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    SubjectDn,
    IssuerDn,
    SubjectDnLegacy,
    IssuerDnLegacy,
    /// The attribute of that type at this index (0: the first) in DER order, as Apache's `SSL_CLIENT_S_DN_OU_1`.
    SubjectAttr(ObjectIdentifier, usize),
    IssuerAttr(ObjectIdentifier, usize),
    Serial,
    SerialDecimal,
    SerialColon,
    Fingerprint(Digest, Bytes),
    /// RFC 8705 section 3.1: the `x5t#S256` confirmation, base64url (no padding) of the DER's SHA-256.
    X5tS256,
    /// RFC 7469 section 2.4: base64 of the SHA-256 of the SubjectPublicKeyInfo DER.
    PinSha256,
    CertDerBase64,
    CertPemUrlencoded,
    /// RFC 9440 section 2.2: the DER as a structured-field byte sequence, `:base64:`.
    ClientCertRfc9440,
    /// RFC 9440 section 2.3: the certificates the client presented after the leaf, in TLS order, as a structured-field
    /// list of byte sequences; only where the host gives them (`Presented::der`).
    ClientCertChainRfc9440,
    Time(Bound, TimeForm),
    SanDns,
    SanUri,
    SanEmail,
    SanIp,
    /// otherName of type 1.3.6.1.4.1.311.20.2.3 (Microsoft UPN), a UTF8String.
    SanUpn,
    SanDirName,
    SpiffeId,
    /// Other products' formats (`formats`).
    AlbValidity,
    AlbLeaf,
    TraefikInfo,
    Xfcc,
    Gcp(Gcp),
    /// `SUCCESS`, `NONE` or `FAILED:<reason>`, like nginx `$ssl_client_verify`.
    Verify,
    /// `1` for a verified certificate (BaaS `X-SSL-Client-CertAuth-Validated`).
    Validated,
    /// `1` when a certificate was presented (verified or not), `0` when none was.
    Present,
    Static(Rc<str>),
    ValidateToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
}

/// How a fingerprint's bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bytes {
    /// Lower-case hex (Cloudflare's `Cf-Client-Cert-Sha256`).
    Hex,
    /// Upper-case hex pairs joined with `:`, as `openssl x509 -fingerprint` prints them.
    ColonHex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    NotBefore,
    NotAfter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForm {
    /// `Dec 22 19:39:00 2018 GMT` (OpenSSL `ASN1_TIME_print`).
    OpenSsl,
    /// `2018-12-22T19:39:00Z` (RFC 3339 section 5.6, UTC).
    Rfc3339,
    /// Seconds since the Unix epoch.
    Unix,
}

impl Field {
    fn parse(s: &str) -> Result<Field, String> {
        let simple = registry::SIMPLE_FIELDS.iter().find(|(name, _)| *name == s).map(|(_, f)| f.clone());
        if let Some(f) = simple {
            return Ok(f);
        }
        if let Some(v) = s.strip_prefix("static:") {
            if !is_header_safe(v.as_bytes()) {
                return Err("static value has control characters".into());
            }
            return Ok(Field::Static(v.into()));
        }
        for (prefix, subject) in [("subject.", true), ("issuer.", false)] {
            if let Some(attr) = s.strip_prefix(prefix) {
                let (oid, index) = attribute_at(attr).ok_or_else(|| format!("unknown attribute `{attr}`"))?;
                return Ok(if subject { Field::SubjectAttr(oid, index) } else { Field::IssuerAttr(oid, index) });
            }
        }
        Err(format!("unknown field `{s}`"))
    }
}

/// `OU`, `OU.1` (the second OU) or a dotted OID (`2.5.4.11`, never indexed: `2.5.4.11.1` is an OID too).
fn attribute_at(attr: &str) -> Option<(ObjectIdentifier, usize)> {
    if let Some((short, index)) = attr.rsplit_once('.') {
        if !short.starts_with(|c: char| c.is_ascii_digit()) {
            let index = index.parse::<usize>().ok().filter(|_| index.bytes().all(|b| b.is_ascii_digit()))?;
            return Some((dn::attribute_oid(short)?, index));
        }
    }
    Some((dn::attribute_oid(attr)?, 0))
}

/// A secret kept out of logs and `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Rc<str>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// For the header that carries it: shared, not copied per request.
    pub fn shared(&self) -> Rc<str> {
        Rc::clone(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Lower-case header name.
    pub name: Rc<str>,
    pub field: Field,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub host: HostKind,
    pub source: Source,
    pub mappings: Vec<Mapping>,
    /// Owned header names: `strip_prefixes`, every mapped header and `strip_headers`, the size budget's flag, and
    /// with `sign` the signature's two headers.
    pub owned: Owned,
    pub validate_token: Option<Secret>,
    pub utf8: bool,
    pub trusted_issuers: Vec<String>,
    /// Policy (`policy.rs`): X.509-SVIDs of these trust domains only, SANs matching these patterns, and at least
    /// this many seconds left before notAfter.
    pub trusted_spiffe_domains: Vec<String>,
    pub san_allow: SanAllow,
    pub min_remaining_validity: u64,
    pub check_validity: bool,
    /// Envoy older than 1.39 has no `connection.peer_certificate_valid`: only with this set does a presented
    /// certificate count as verified there (the operator states that the listener refuses unverified ones).
    pub assume_verified_by_listener: bool,
    pub reject_status: u32,
    pub reject_body: String,
    /// RFC 9421 signature over the injected headers (`sign.rs`), when `sign` is set.
    pub signing: Option<Signing>,
    /// The size budget (`budget.rs`): bytes per injected header line and for all of them.
    pub max_header_bytes: usize,
    pub max_total_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Optional,
            host: HostKind::Auto,
            source: Source::Auto,
            mappings: Vec::new(),
            owned: Owned::new(vec![DEFAULT_STRIP_PREFIX.to_string()], Vec::new()),
            validate_token: None,
            utf8: false,
            trusted_issuers: Vec::new(),
            trusted_spiffe_domains: Vec::new(),
            san_allow: SanAllow::default(),
            min_remaining_validity: 0,
            check_validity: true,
            assume_verified_by_listener: false,
            reject_status: 403,
            reject_body: DEFAULT_REJECT_BODY.to_string(),
            signing: None,
            max_header_bytes: budget::DEFAULT_HEADER_BYTES,
            max_total_bytes: budget::DEFAULT_TOTAL_BYTES,
        }
    }
}

/// The smallest budget: room for the verdict and the token headers.
const MIN_BUDGET: u32 = 256;

/// What a configuration owns without `strip_prefixes` (SPEC: names beginning `X-SSL`).
const DEFAULT_STRIP_PREFIX: &str = "x-ssl";

pub const DEFAULT_REJECT_BODY: &str = "client certificate required\n";

/// A configuration error: which field, and what is wrong with it. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: field `{}`: {}", self.field, self.message)
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), message: message.into() }
}

/// Names the filter must never write: connection-level or framing headers, and Envoy's own XFCC.
const FORBIDDEN_NAMES: &[&str] = &[
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

type Fields = BTreeMap<String, Json>;

/// The JSON shapes configuration fields take.
trait FromJson: Sized {
    fn from_json(v: Json) -> Option<Self>;
}

impl FromJson for String {
    fn from_json(v: Json) -> Option<Self> {
        match v {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
}

impl FromJson for bool {
    fn from_json(v: Json) -> Option<Self> {
        match v {
            Json::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl FromJson for u32 {
    fn from_json(v: Json) -> Option<Self> {
        v.as_u32()
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: Json) -> Option<Self> {
        match v {
            Json::Array(items) => items.into_iter().map(T::from_json).collect(),
            _ => None,
        }
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(v: Json) -> Option<Self> {
        match v {
            Json::Object(entries) => entries.into_iter().map(|(k, v)| Some((k, T::from_json(v)?))).collect(),
            _ => None,
        }
    }
}

/// Removes a field; `null` counts as absent.
fn take<T: FromJson>(map: &mut Fields, key: &str, what: &str) -> Result<Option<T>, ConfigError> {
    match map.remove(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => T::from_json(v).map(Some).ok_or_else(|| err(key, format!("expected {what}"))),
    }
}

fn choice<T: Copy>(map: &mut Fields, key: &str, options: &[(&str, T)]) -> Result<Option<T>, ConfigError> {
    let Some(s) = take::<String>(map, key, "a string")? else {
        return Ok(None);
    };
    options.iter().find(|(n, _)| *n == s).map(|(_, v)| Some(*v)).ok_or_else(|| {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        err(key, format!("`{s}` is not one of {}", names.join(", ")))
    })
}

impl Config {
    /// Parses and validates the plugin configuration. `env` reads the VM's environment (`validate_token_env`).
    /// An empty configuration means all defaults: strip `x-ssl*`, inject nothing.
    pub fn parse(json: &[u8], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        // JSON's whitespace only (RFC 8259 section 2): a form feed is not, so "\f" is an error, not the defaults.
        let trimmed = json.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        let value = if trimmed {
            Json::Object(Vec::new())
        } else {
            json::parse(json).map_err(|e| err("(root)", format!("not valid JSON: {e}")))?
        };
        let Json::Object(entries) = value else {
            return Err(err("(root)", "expected a JSON object"));
        };
        let mut map: Fields = entries.into_iter().collect();
        if let Some(unknown) = map.keys().find(|k| !registry::KEYS.iter().any(|key| key.name == k.as_str())) {
            let known: Vec<&str> = registry::KEYS.iter().map(|k| k.name).collect();
            return Err(err(unknown.clone(), format!("unknown field; known fields: {}", known.join(", "))));
        }
        let mut cfg = Config::default();
        if let Some(m) = choice(&mut map, "mode", registry::MODES)? {
            cfg.mode = m;
        }
        if let Some(h) = choice(&mut map, "host", registry::HOSTS)? {
            cfg.host = h;
        }
        if let Some(s) = choice(&mut map, "source", registry::SOURCES)? {
            cfg.source = s;
        }
        let presets: Vec<(&str, &[registry::PresetHeader])> =
            registry::PRESETS.iter().map(|p| (p.name, p.headers)).collect();
        let preset = choice(&mut map, "preset", &presets)?.unwrap_or(&[]);
        let custom: BTreeMap<String, String> =
            take(&mut map, "headers", "an object of header name to field name strings")?.unwrap_or_default();

        let mut mappings: Vec<Mapping> = Vec::new();
        for header in preset {
            let field = Field::parse(header.field).map_err(|m| err("preset", m))?;
            mappings.push(Mapping { name: header.name.into(), field });
        }
        let mut custom_mappings: Vec<Mapping> = Vec::new();
        for (name, field) in &custom {
            let key = format!("headers.{name}");
            let lower = name.to_ascii_lowercase();
            if !valid_header_name(&lower) {
                return Err(err(key, "not a valid HTTP header name (RFC 9110 token)"));
            }
            if FORBIDDEN_NAMES.contains(&lower.as_str()) {
                return Err(err(key, "this header cannot be set by the filter"));
            }
            let field = Field::parse(field).map_err(|m| err(key.clone(), m))?;
            // `x-a_b` and `x-a-b` are one variable for CGI-style backends: two custom mappings may not fold together.
            if custom_mappings.iter().any(|m: &Mapping| normalize_name(&m.name) == normalize_name(&lower)) {
                return Err(err(key, "two mappings write headers that differ only in case or `-`/`_`"));
            }
            // A custom mapping replaces the preset's mapping of the same header.
            mappings.retain(|m| normalize_name(&m.name) != normalize_name(&lower));
            custom_mappings.push(Mapping { name: lower.into(), field });
        }
        mappings.extend(custom_mappings);

        let strip_prefixes = match take::<Vec<String>>(&mut map, "strip_prefixes", "a list of strings")? {
            None => vec![DEFAULT_STRIP_PREFIX.to_string()],
            Some(prefixes) => {
                let mut normalized = Vec::with_capacity(prefixes.len());
                for p in prefixes {
                    if p.is_empty() || !valid_header_name(&p) {
                        return Err(err("strip_prefixes", format!("`{p}` is not a header-name prefix")));
                    }
                    normalized.push(normalize_name(&p));
                }
                normalized
            }
        };
        let mut strip_names: Vec<String> = mappings.iter().map(|m| normalize_name(&m.name)).collect();
        strip_names.push(budget::FLAG.to_string());
        if let Some(sign) = take::<BTreeMap<String, String>>(&mut map, "sign", "an object of strings")? {
            cfg.signing = Some(signing(sign, env)?);
            // Both headers belong to the filter: a client's copy would pass for the filter's signature.
            strip_names.extend([sign::SIGNATURE.to_string(), sign::SIGNATURE_INPUT.to_string()]);
        }
        for name in take::<Vec<String>>(&mut map, "strip_headers", "a list of strings")?.unwrap_or_default() {
            if !valid_header_name(&name) {
                return Err(err("strip_headers", format!("`{name}` is not a valid header name")));
            }
            strip_names.push(normalize_name(&name));
        }
        strip_names.sort();
        strip_names.dedup();
        cfg.owned = Owned::new(strip_prefixes, strip_names);

        let token = take::<String>(&mut map, "validate_token", "a string")?;
        let token_env = take::<String>(&mut map, "validate_token_env", "a string")?;
        cfg.validate_token = match (token, token_env) {
            (Some(_), Some(_)) => {
                return Err(err("validate_token_env", "set either validate_token or validate_token_env, not both"))
            }
            (Some(t), None) => Some(check_token(t, "validate_token")?),
            (None, Some(var)) => {
                let t = env(&var).filter(|t| !t.is_empty()).ok_or_else(|| {
                    err("validate_token_env", format!("environment variable `{var}` is not set in the VM"))
                })?;
                Some(check_token(t, "validate_token_env")?)
            }
            (None, None) => None,
        };
        if cfg.validate_token.is_none() {
            if let Some(m) = mappings.iter().find(|m| m.field == Field::ValidateToken) {
                // A custom mapping is stored under its lower-case name: name the key as the document spells it.
                let field = match custom.keys().find(|k| *k.to_ascii_lowercase() == *m.name) {
                    Some(key) => format!("headers.{key}"),
                    None => "preset".into(),
                };
                return Err(err(field, format!("header `{}` needs validate_token or validate_token_env", m.name)));
            }
        }
        cfg.mappings = mappings;

        cfg.utf8 = take(&mut map, "utf8", "true or false")?.unwrap_or(false);
        cfg.check_validity = take(&mut map, "check_validity", "true or false")?.unwrap_or(true);
        cfg.assume_verified_by_listener =
            take(&mut map, "assume_verified_by_listener", "true or false")?.unwrap_or(false);
        cfg.trusted_issuers =
            take::<Vec<String>>(&mut map, "trusted_issuers", "a list of RFC 2253 DN strings")?.unwrap_or_default();
        if cfg.trusted_issuers.iter().any(String::is_empty) {
            return Err(err("trusted_issuers", "an issuer DN is empty"));
        }
        // Compared with `issuer_dn` as the filter writes it; OpenSSL's spelling of a DN ending in a space matches too.
        cfg.trusted_issuers.iter_mut().for_each(dn::end_space_as_hex);
        cfg.trusted_spiffe_domains =
            take::<Vec<String>>(&mut map, "trusted_spiffe_domains", "a list of trust domain names")?
                .unwrap_or_default();
        if let Some(bad) = cfg.trusted_spiffe_domains.iter().find(|d| !policy::valid_trust_domain(d.as_bytes())) {
            return Err(err(
                "trusted_spiffe_domains",
                format!("`{bad}` is not a trust domain name (lower-case letters, digits, `.`, `-`, `_`)"),
            ));
        }
        let allow: BTreeMap<String, Vec<String>> =
            take(&mut map, "san_allow", "an object of SAN type to a list of patterns")?.unwrap_or_default();
        for (kind, patterns) in allow {
            let key = format!("san_allow.{kind}");
            if patterns.is_empty() || patterns.iter().any(String::is_empty) {
                return Err(err(key, "expected a non-empty list of non-empty patterns"));
            }
            match kind.as_str() {
                "dns" => cfg.san_allow.dns = patterns,
                "uri" => cfg.san_allow.uri = patterns,
                "email" => cfg.san_allow.email = patterns,
                "ip" => cfg.san_allow.ip = patterns,
                _ => return Err(err(key, "unknown SAN type; known: dns, uri, email, ip")),
            }
        }
        if let Some(seconds) = take::<u32>(&mut map, "min_remaining_validity", "a number of seconds")? {
            cfg.min_remaining_validity = u64::from(seconds);
        }
        for (key, slot) in
            [("max_header_bytes", &mut cfg.max_header_bytes), ("max_total_bytes", &mut cfg.max_total_bytes)]
        {
            if let Some(bytes) = take::<u32>(&mut map, key, "a number of bytes")? {
                if bytes < MIN_BUDGET {
                    return Err(err(key, format!("at least {MIN_BUDGET} bytes")));
                }
                *slot = usize::try_from(bytes).unwrap_or(usize::MAX);
            }
        }
        if let Some(status) = take::<u32>(&mut map, "reject_status", "an HTTP status code")? {
            if !(400..=599).contains(&status) {
                return Err(err("reject_status", "must be a 4xx or 5xx status"));
            }
            cfg.reject_status = status;
        }
        if let Some(body) = take::<String>(&mut map, "reject_body", "a string")? {
            if body.len() > 1024 {
                return Err(err("reject_body", "longer than 1024 bytes"));
            }
            cfg.reject_body = body;
        }
        Ok(cfg)
    }

    /// Whether a mapping renders the presented chain (RFC 9440's `Client-Cert-Chain`, XFCC's `Chain=`): only then
    /// does an adapter read it.
    pub fn wants_chain(&self) -> bool {
        self.mappings.iter().any(|m| matches!(m.field, Field::ClientCertChainRfc9440 | Field::Xfcc))
    }

    /// True when the header (any case, `_` read as `-`) belongs to the filter and must not come from the client.
    pub fn owns(&self, name: &[u8]) -> bool {
        self.owned.owns(name)
    }
}

/// `sign`: `key_env` (required), `keyid`, `label`. The key is the environment variable's bytes as they are.
fn signing(mut sign: BTreeMap<String, String>, env: &dyn Fn(&str) -> Option<String>) -> Result<Signing, ConfigError> {
    const MIN_KEY: usize = 32;
    let var = sign
        .remove("key_env")
        .ok_or_else(|| err("sign.key_env", "required: the VM environment variable that holds the key"))?;
    let keyid = sign.remove("keyid").unwrap_or_else(|| "mtls-headers".to_string());
    let label = sign.remove("label").unwrap_or_else(|| "mtls".to_string());
    if let Some(unknown) = sign.keys().next() {
        return Err(err(format!("sign.{unknown}"), "unknown field; known fields: key_env, keyid, label"));
    }
    // RFC 8941 section 3.3.3 string, kept to what needs no escaping; section 3.1.2 key.
    if keyid.is_empty() || !keyid.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\') {
        return Err(err("sign.keyid", "expected printable ASCII without `\"` or `\\`"));
    }
    let key_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*');
    if !label.starts_with(|c: char| c.is_ascii_lowercase() || c == '*') || !label.bytes().all(key_char) {
        return Err(err("sign.label", "expected an RFC 8941 key: lower-case letters, digits, `_-.*`"));
    }
    let key =
        env(&var).ok_or_else(|| err("sign.key_env", format!("environment variable `{var}` is not set in the VM")))?;
    if key.len() < MIN_KEY {
        return Err(err("sign.key_env", format!("the key in `{var}` is shorter than {MIN_KEY} bytes")));
    }
    Ok(Signing::new(label, keyid, key.as_bytes()))
}

fn check_token(t: String, field: &str) -> Result<Secret, ConfigError> {
    // A header value: visible ASCII only (RFC 9110 section 5.5); the value itself is never echoed.
    if t.is_empty() || !t.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(err(field, "the token must be non-empty visible ASCII"));
    }
    Ok(Secret(t.into()))
}

/// The configuration as a JSON Schema (draft 4, what Kong validates filter configuration with), built from the
/// parser's own tables so the two cannot drift; kong/mtls_headers.meta.json is this, wrapped in `config_schema`.
/// What draft 4 cannot express (header names that fold together, the VM environment) only the filter checks.
#[cfg(any(test, feature = "test-support"))]
pub fn json_schema() -> serde_json::Value {
    use serde_json::json;
    // RFC 9110 section 5.6.2 token, as `valid_header_name`.
    const TOKEN: &str = "^[0-9A-Za-z!#$%&'*+.^_`|~-]+$";
    let any_case = |name: &str| -> String {
        let class = |c: char| {
            // Names are letters and `-` (FORBIDDEN_NAMES): a class per letter, since draft 4 has no flags.
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        };
        format!("^{}$", name.chars().map(class).collect::<String>())
    };
    let simple: Vec<String> = registry::SIMPLE_FIELDS.iter().map(|(n, _)| n.replace('.', "\\.")).collect();
    let attributes: Vec<&str> = dn::attribute_types().map(|(_, sn)| sn).collect();
    let field = format!(
        "^({}|static:[^\\x00-\\x08\\x0a-\\x1f\\x7f]*|(subject|issuer)\\.(({})(\\.[0-9]+)?|[0-2](\\.[0-9]+)+))$",
        simple.join("|"),
        attributes.join("|")
    );
    let mut header_names = serde_json::Map::new();
    header_names.insert(TOKEN.to_string(), json!({ "type": "string", "pattern": field }));
    for name in FORBIDDEN_NAMES {
        header_names.insert(any_case(name), json!({ "not": {} }));
    }
    fn enumeration<T>(options: &[(&str, T)]) -> serde_json::Value {
        json!({ "type": "string", "enum": options.iter().map(|(name, _)| *name).collect::<Vec<_>>() })
    }
    let presets: Vec<(&str, ())> = registry::PRESETS.iter().map(|p| (p.name, ())).collect();
    let names = json!({ "type": "array", "items": { "type": "string", "pattern": TOKEN } });
    let patterns = json!({ "type": "array", "minItems": 1, "items": { "type": "string", "minLength": 1 } });
    json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "mtls-headers filter configuration",
        "description": "Generated from src/core/config.rs (json_schema); see README.md, Configuration reference.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "mode": enumeration(registry::MODES),
            "host": enumeration(registry::HOSTS),
            "source": enumeration(registry::SOURCES),
            "preset": enumeration(&presets),
            "headers": { "type": "object", "additionalProperties": false, "patternProperties": header_names },
            "strip_prefixes": names,
            "strip_headers": names,
            "validate_token": { "type": "string", "pattern": "^[\\x21-\\x7e]+$" },
            "validate_token_env": { "type": "string", "minLength": 1 },
            "utf8": { "type": "boolean" },
            "check_validity": { "type": "boolean" },
            "assume_verified_by_listener": { "type": "boolean" },
            "trusted_issuers": { "type": "array", "items": { "type": "string", "minLength": 1 } },
            "trusted_spiffe_domains": { "type": "array", "items": { "type": "string", "pattern": "^[a-z0-9._-]+$" } },
            "san_allow": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "dns": patterns, "uri": patterns, "email": patterns, "ip": patterns,
                },
            },
            "min_remaining_validity": { "type": "integer", "minimum": 0, "maximum": 4294967295u64 },
            "max_header_bytes": { "type": "integer", "minimum": MIN_BUDGET, "maximum": 4294967295u64 },
            "max_total_bytes": { "type": "integer", "minimum": MIN_BUDGET, "maximum": 4294967295u64 },
            "sign": {
                "type": "object",
                "additionalProperties": false,
                "required": ["key_env"],
                "properties": {
                    "key_env": { "type": "string", "minLength": 1 },
                    "keyid": { "type": "string", "pattern": "^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+$" },
                    "label": { "type": "string", "pattern": "^[a-z*][a-z0-9_.*-]*$" },
                },
            },
            "reject_status": { "type": "integer", "minimum": 400, "maximum": 599 },
            "reject_body": { "type": "string", "maxLength": 1024 },
        },
        "allOf": [
            { "not": { "required": ["validate_token", "validate_token_env"] } },
            // A token header (the BaaS preset, or a `validate_token` mapping) needs a token source.
            { "anyOf": [
                { "required": ["validate_token"] },
                { "required": ["validate_token_env"] },
                { "properties": {
                    "preset": { "not": { "enum": ["baas"] } },
                    "headers": { "additionalProperties": { "not": { "enum": ["validate_token"] } } },
                } },
            ] },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(json: &str) -> Result<Config, ConfigError> {
        Config::parse(json.as_bytes(), &no_env)
    }

    #[test]
    fn empty_config_strips_x_ssl_only() {
        let cfg = parse("").unwrap();
        assert!(cfg.mappings.is_empty());
        assert!(cfg.owns(b"X-SSL-Client-CN"));
        assert!(cfg.owns(b"x_ssl_client_cn"));
        assert!(cfg.owns(b"X-Ssl"));
        assert!(!cfg.owns(b"x-ss"));
        assert!(!cfg.owns(b"authorization"));
    }

    #[test]
    fn baas_needs_a_token() {
        let e = parse(r#"{"preset":"baas"}"#).unwrap_err();
        assert_eq!(e.field, "preset");
        let cfg = parse(r#"{"preset":"baas","validate_token":"s3cret"}"#).unwrap();
        assert_eq!(cfg.mappings.len(), 6);
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn missing_token_names_the_header_as_written() {
        // Found by fuzz/fuzz_targets/config_structured.rs: a custom token header in upper case, replacing the preset's,
        // was reported as the preset's fault.
        let e = parse(r#"{"preset":"baas","headers":{"X-SSL-Validate-Token":"validate_token"}}"#).unwrap_err();
        assert_eq!(e.field, "headers.X-SSL-Validate-Token");
        assert_eq!(parse(r#"{"headers":{"X-T":"validate_token"}}"#).unwrap_err().field, "headers.X-T");
        assert_eq!(parse(r#"{"headers":{"x_t":"validate_token"}}"#).unwrap_err().field, "headers.x_t");
    }

    #[test]
    fn token_from_environment() {
        let env = |k: &str| (k == "TOKEN").then(|| "from-env".to_string());
        let cfg = Config::parse(br#"{"preset":"baas","validate_token_env":"TOKEN"}"#, &env).unwrap();
        assert_eq!(cfg.validate_token.as_ref().map(Secret::expose), Some("from-env"));
        let e = Config::parse(br#"{"preset":"baas","validate_token_env":"OTHER"}"#, &env).unwrap_err();
        assert_eq!(e.field, "validate_token_env");
    }

    /// tests/cases/configs.json: the table Envoy, the Wasm host and Kong's schema are judged against too.
    #[test]
    fn shared_config_table() {
        use serde_json::Value;
        let table: Value = serde_json::from_str(include_str!("../../tests/cases/configs.json")).unwrap();
        let text = |case: &Value| match (case.get("raw"), case.get("config")) {
            (Some(Value::String(raw)), _) => raw.clone(),
            (_, Some(config)) => config.to_string(),
            _ => panic!("{case}: raw or config"),
        };
        let env_of = |case: &Value| {
            let vars: BTreeMap<String, String> =
                case.get("env").map(|e| serde_json::from_value(e.clone()).unwrap()).unwrap_or_default();
            move |k: &str| vars.get(k).cloned()
        };
        for case in table["invalid"].as_array().unwrap() {
            let e = Config::parse(text(case).as_bytes(), &env_of(case)).unwrap_err();
            assert_eq!(e.field, case["field"].as_str().unwrap(), "{}: {e}", case["id"]);
        }
        for case in table["valid"].as_array().unwrap() {
            let cfg = Config::parse(text(case).as_bytes(), &env_of(case));
            assert!(cfg.is_ok(), "{}: {:?}", case["id"], cfg.err());
        }
    }

    /// kong/mtls_headers.meta.json is `json_schema()` as Kong reads it. `MTLS_HEADERS_WRITE_SCHEMA=1` rewrites it
    /// (`make kong-schema`).
    #[test]
    fn kong_meta_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../kong/mtls_headers.meta.json");
        let want = serde_json::to_string_pretty(&serde_json::json!({ "config_schema": json_schema() })).unwrap() + "\n";
        if std::env::var_os("MTLS_HEADERS_WRITE_SCHEMA").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let got = std::fs::read_to_string(path).unwrap_or_default();
        assert!(got == want, "{path} is stale: run `make kong-schema`");
    }

    #[test]
    fn long_reject_body_refused() {
        let e = parse(&format!(r#"{{"reject_body":"{}"}}"#, "x".repeat(1025))).unwrap_err();
        assert_eq!(e.field, "reject_body");
    }

    #[test]
    fn secret_never_in_errors() {
        let e = parse(r#"{"validate_token":"bad token value"}"#).unwrap_err();
        assert!(!e.to_string().contains("bad token value"));
    }

    #[test]
    fn custom_mapping_overrides_preset_and_is_owned() {
        let cfg =
            parse(r#"{"preset":"cloudflare","headers":{"X-Cert-Serial":"fingerprint_sha256","x-org":"subject.O"}}"#)
                .unwrap();
        let serial: Vec<_> = cfg.mappings.iter().filter(|m| &*m.name == "x-cert-serial").collect();
        assert_eq!(serial.len(), 1);
        assert_eq!(serial[0].field, Field::Fingerprint(Digest::Sha256, Bytes::Hex));
        assert!(cfg.owns(b"X_ORG"));
        assert!(cfg.owns(b"Cf-Client-Cert-Sha256"));
    }
}

//! The configuration's vocabulary, declared once: its keys, their choices, the presets and the fields. The parser
//! (config.rs), the JSON Schema (`config::json_schema`, kong/mtls_headers.meta.json) and README.md's reference
//! tables are made from these tables; tests fail when the README or the schema drifts from them.

use crate::config::{Field, HostKind, Mode, Source};

/// A configuration key, as the README's reference table shows it.
pub struct Key {
    pub name: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// Every key the configuration object may have: anything else is refused.
pub const KEYS: &[Key] = &[
    Key {
        name: "mode",
        default: "`\"optional\"`",
        doc: "`\"required\"`: anything but a verified certificate gets a local reply",
    },
    Key {
        name: "preset",
        default: "`\"none\"`",
        doc: "`\"baas\"`, `\"cloudflare\"`, `\"rfc9440\"`: a ready header mapping",
    },
    Key {
        name: "headers",
        default: "`{}`",
        doc: "extra mappings `{\"header-name\": \"field\"}`; a name the preset also writes is replaced",
    },
    Key {
        name: "strip_prefixes",
        default: "`[\"x-ssl\"]`",
        doc: "owned name prefixes (case-insensitive, `_` read as `-`)",
    },
    Key {
        name: "strip_headers",
        default: "`[]`",
        doc: "further owned names; every mapped header is owned anyway",
    },
    Key {
        name: "validate_token",
        default: "—",
        doc: "the shared secret (a header value: visible ASCII). Never logged",
    },
    Key {
        name: "validate_token_env",
        default: "—",
        doc: "read the secret from this environment variable of the VM instead",
    },
    Key {
        name: "utf8",
        default: "`false`",
        doc: "DN and attribute text as raw UTF-8 instead of OpenSSL's `\\E5\\B1\\B1` escapes",
    },
    Key {
        name: "trusted_issuers",
        default: "`[]`",
        doc: "if set, only certificates whose issuer DN (RFC 2253, escaped form) is listed count as verified",
    },
    Key {
        name: "check_validity",
        default: "`true`",
        doc: "a certificate outside notBefore..notAfter (host clock) counts as not verified",
    },
    Key {
        name: "reject_status",
        default: "`403`",
        doc: "status of the local reply (4xx/5xx)",
    },
    Key {
        name: "reject_body",
        default: "`\"client certificate required\\n\"`",
        doc: "its body (at most 1024 bytes)",
    },
    Key {
        name: "host",
        default: "`\"auto\"`",
        doc: "`\"envoy\"` or `\"kong\"` (any nginx with ngx_wasm_module); `auto` asks once per VM for `ngx.nginx_version`, which only ngx_wasm_module answers",
    },
    Key {
        name: "assume_verified_by_listener",
        default: "`false`",
        doc: "Envoy before 1.39 only (no `connection.peer_certificate_valid`): count a presented certificate as verified because the listener refuses unverified ones (no `ACCEPT_UNTRUSTED`). Without it such an Envoy verifies nothing: `FAILED:verification status unavailable` (section Envoy, \"Envoy versions\")",
    },
    Key {
        name: "source",
        default: "`\"auto\"`",
        doc: "Envoy only: `\"property\"` (`connection.peer_certificate`), `\"xfcc\"`, or `auto` (property, else XFCC)",
    },
];

pub const MODES: &[(&str, Mode)] = &[("optional", Mode::Optional), ("required", Mode::Required)];
pub const HOSTS: &[(&str, HostKind)] =
    &[("auto", HostKind::Auto), ("envoy", HostKind::Envoy), ("kong", HostKind::Kong)];
pub const SOURCES: &[(&str, Source)] =
    &[("auto", Source::Auto), ("property", Source::Property), ("xfcc", Source::Xfcc)];

/// One header a preset writes: its name, the field it carries, and what a reader of the README needs to know.
pub struct PresetHeader {
    pub name: &'static str,
    pub field: &'static str,
    pub doc: &'static str,
}

pub struct Preset {
    pub name: &'static str,
    /// The README's words before the preset's table.
    pub summary: &'static str,
    pub headers: &'static [PresetHeader],
}

const fn h(name: &'static str, field: &'static str, doc: &'static str) -> PresetHeader {
    PresetHeader { name, field, doc }
}

/// The ready mappings `preset` chooses from.
pub const PRESETS: &[Preset] = &[
    Preset { name: "none", summary: "", headers: &[] },
    Preset {
        name: "baas",
        summary: "The BaaS `X-SSL-*` profile; it needs `validate_token` or `validate_token_env`.",
        headers: &[
            h("x-ssl-client-certauth-validated", "validated", "`1` for a verified certificate"),
            h(
                "x-ssl-client-serial",
                "serial",
                "serial, upper-case hex, no colons (as nginx `$ssl_client_serial` and Envoy print it)",
            ),
            h("x-ssl-client-cn", "subject.CN", "subject CN"),
            h("x-ssl-client-uid", "subject.UID", "subject UID (0.9.2342.19200300.100.1.1)"),
            h("x-ssl-issuer-dn", "issuer_dn", "issuer DN, RFC 2253 as `openssl -nameopt RFC2253` prints it"),
            h(
                "x-ssl-validate-token",
                "validate_token",
                "the shared secret from `validate_token` or `validate_token_env` (required by this preset)",
            ),
        ],
    },
    Preset {
        name: "cloudflare",
        summary: "The Cloudflare-style header set: `cf-client-cert-*` and `x-cert-*`.",
        headers: &[
            h("cf-client-cert-der-base64", "cert_der_base64", "leaf DER, base64"),
            h("cf-client-cert-sha256", "fingerprint_sha256", "SHA-256 of the DER, hex"),
            h("x-cert-issuer-dn", "issuer_dn", "RFC 2253"),
            h("x-cert-subject-dn", "subject_dn", "RFC 2253"),
            h("x-cert-issuer-dn-l", "issuer_dn_legacy", "OpenSSL legacy `/C=JP/O=…/CN=…`"),
            h("x-cert-subject-dn-l", "subject_dn_legacy", "OpenSSL legacy `/C=JP/O=…/CN=…`"),
            h("x-cert-serial", "serial", "upper-case hex, no colons"),
            h("x-cert-finger", "fingerprint_sha1", "SHA-1 of the DER, hex"),
            h("x-cert-verify", "verify", "`SUCCESS`, `NONE` or `FAILED:<reason>`"),
            h("x-cert-notbe", "not_before", "`Dec 22 19:39:00 2018 GMT`"),
            h("x-cert-notaf", "not_after", "`Dec 22 19:39:00 2018 GMT`"),
        ],
    },
    Preset {
        name: "rfc9440",
        summary: "RFC 9440's `Client-Cert` header.",
        headers: &[h(
            "client-cert",
            "client_cert_rfc9440",
            "the leaf as a structured-field byte sequence (`:base64-DER:`)",
        )],
    },
];

/// Field names that take no argument (`static:<value>`, `subject.<attr>` and `issuer.<attr>` are the others).
pub const SIMPLE_FIELDS: &[(&str, Field)] = &[
    ("subject_dn", Field::SubjectDn),
    ("issuer_dn", Field::IssuerDn),
    ("subject_dn_legacy", Field::SubjectDnLegacy),
    ("issuer_dn_legacy", Field::IssuerDnLegacy),
    ("serial", Field::Serial),
    ("fingerprint_sha1", Field::FingerprintSha1),
    ("fingerprint_sha256", Field::FingerprintSha256),
    ("cert_der_base64", Field::CertDerBase64),
    ("cert_pem_urlencoded", Field::CertPemUrlencoded),
    ("client_cert_rfc9440", Field::ClientCertRfc9440),
    ("not_before", Field::NotBefore),
    ("not_after", Field::NotAfter),
    ("san_dns", Field::SanDns),
    ("san_uri", Field::SanUri),
    ("san_email", Field::SanEmail),
    ("san_ip", Field::SanIp),
    ("spiffe_id", Field::SpiffeId),
    ("verify", Field::Verify),
    ("validated", Field::Validated),
    ("validate_token", Field::ValidateToken),
];

/// The forms of field that take an argument, as the README writes them.
pub const ARGUMENT_FIELDS: &[&str] = &["subject.<ATTR>", "issuer.<ATTR>", "static:<text>"];

/// A row of the README's field table: fields documented together.
pub struct FieldRow {
    pub names: &'static [&'static str],
    pub doc: &'static str,
}

pub const FIELD_ROWS: &[FieldRow] = &[
    FieldRow {
        names: &["subject_dn", "issuer_dn"],
        doc: "RFC 2253, byte-identical to `openssl x509 -noout -subject -nameopt RFC2253` (OpenSSL 3.0) for names made of the attribute types below (see \"Attribute types\") and OIDs OpenSSL has no name for; `tests/fixtures/dn` covers BMPString, T61String, multi-valued RDNs, `#`, spaces, `+,;<>\"\\`, unknown OIDs. One difference: where OpenSSL's DN ends in an escaped space (`CN=x,O=Example\\ `), the last one is the hex pair `\\20` (`O=Example\\20`, as RFC 4514 section 2.4 allows), since HTTP recipients strip trailing whitespace (RFC 9110 section 5.5); `trusted_issuers` takes either spelling. A certificate whose name holds a UniversalString cannot be parsed and counts as unreadable",
    },
    FieldRow {
        names: &["subject_dn_legacy", "issuer_dn_legacy"],
        doc: "OpenSSL one-line form, `/C=JP/O=Example/CN=alice`, byte-identical to `X509_NAME_oneline` for the same attribute types, except that a trailing space is `\\x20` (`/O=Example /CN= admin\\x20`; the form's escape for other bytes)",
    },
    FieldRow {
        names: &["subject.<ATTR>", "issuer.<ATTR>"],
        doc: "first attribute of that type (an OpenSSL short name from \"Attribute types\", such as `CN`, `UID`, `O`, `OU`, `C`, `serialNumber`, `emailAddress`, `DC`, `msUPN`, or a dotted OID); `\\` as `\\\\`, control and (unless `utf8`) non-ASCII bytes as `\\XX`, and every space of a leading or trailing run of spaces and tabs as `\\20` (tabs are `\\09` anyway), so CN `\" admin \"` is `\\20admin\\20`, not the `admin` an HTTP recipient would make of it (RFC 9110 section 5.5)",
    },
    FieldRow {
        names: &["serial"],
        doc: "upper-case hex, no colons",
    },
    FieldRow {
        names: &["fingerprint_sha1", "fingerprint_sha256"],
        doc: "lower-case hex of the DER",
    },
    FieldRow {
        names: &["cert_der_base64"],
        doc: "the leaf DER, base64",
    },
    FieldRow {
        names: &["cert_pem_urlencoded"],
        doc: "the leaf PEM, percent-encoded (like nginx `$ssl_client_escaped_cert`)",
    },
    FieldRow {
        names: &["client_cert_rfc9440"],
        doc: "`:base64-DER:` (RFC 9440 section 2.2)",
    },
    FieldRow {
        names: &["not_before", "not_after"],
        doc: "`Dec 22 19:39:00 2018 GMT` (OpenSSL `ASN1_TIME_print`)",
    },
    FieldRow {
        names: &["san_dns", "san_uri", "san_email", "san_ip"],
        doc: "all SANs of that kind in certificate order, joined with `,`. Each value is percent-encoded (RFC 3986 section 2.1, `%XX`, upper-case hex) for `%`, `,`, space and every byte outside visible ASCII (0x21–0x7E), so a reader splits on `,` and then percent-decodes each element: the one URI SAN `https://ok.example/p,spiffe://example.org/ns/prod/sa/admin` is `https://ok.example/p%2Cspiffe://example.org/ns/prod/sa/admin`, the email `\"a,b\"@example.com` is `\"a%2Cb\"@example.com`. A DNS, URI or email SAN with bytes outside IA5 (UTF-8 `café.example`) is accepted, as OpenSSL, nginx and Envoy accept it, and encoded the same way (`caf%C3%A9.example`). IP SANs: IPv4 dotted, IPv6 in RFC 5952 form (`::1`, `2001:db8::1`, `::ffff:192.0.2.1`, where OpenSSL and nginx print `0:0:0:0:0:0:0:1`), and an IP SAN of any length but 4 or 16 bytes as `#` and lower-case hex (`#c0a80001ff`). Other SAN kinds (otherName, directoryName, …) are not read",
    },
    FieldRow {
        names: &["spiffe_id"],
        doc: "the URI SAN when it is the only one and starts with `spiffe://` (X.509-SVID), encoded as a `san_uri` element (a valid SPIFFE ID has no byte that needs it, so it comes out unchanged)",
    },
    FieldRow {
        names: &["verify"],
        doc: "`SUCCESS`, `NONE`, `FAILED:<reason>` (like nginx `$ssl_client_verify`)",
    },
    FieldRow {
        names: &["validated"],
        doc: "`1`",
    },
    FieldRow {
        names: &["static:<text>"],
        doc: "the text",
    },
    FieldRow {
        names: &["validate_token"],
        doc: "the configured secret",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// README.md's tables as the registry renders them, between `<!-- registry:NAME -->` and `<!-- /registry -->`.
    fn readme_blocks() -> Vec<(&'static str, String)> {
        let code = |s: &str| format!("`{s}`");
        let mut keys = String::from("| field | default | meaning |\n|---|---|---|\n");
        for k in KEYS {
            keys += &format!("| `{}` | {} | {} |\n", k.name, k.default, k.doc);
        }
        let mut fields = String::from("| field | value |\n|---|---|\n");
        for row in FIELD_ROWS {
            let names: Vec<String> = row.names.iter().map(|n| code(n)).collect();
            fields += &format!("| {} | {} |\n", names.join(", "), row.doc);
        }
        let mut presets = String::new();
        for p in PRESETS.iter().filter(|p| !p.headers.is_empty()) {
            presets +=
                &format!("### Preset `{}`\n\n{}\n\n| header | field | value |\n|---|---|---|\n", p.name, p.summary);
            for h in p.headers {
                presets += &format!("| `{}` | `{}` | {} |\n", h.name, h.field, h.doc);
            }
            presets += "\n";
        }
        vec![("presets", presets.trim_end().to_string() + "\n"), ("keys", keys), ("fields", fields)]
    }

    /// The README's reference tables are the registry's: `MTLS_HEADERS_WRITE_README=1 cargo test -p
    /// mtls-headers-core --lib readme` rewrites them.
    #[test]
    fn readme_tables_are_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let mut readme = std::fs::read_to_string(path).unwrap();
        for (name, block) in readme_blocks() {
            let open = format!("<!-- registry:{name} -->\n");
            let start = readme.find(&open).unwrap_or_else(|| panic!("README.md has no {open}")) + open.len();
            let end = start + readme[start..].find("<!-- /registry -->").unwrap();
            if std::env::var_os("MTLS_HEADERS_WRITE_README").is_some() {
                readme.replace_range(start..end, &block);
            } else {
                assert_eq!(readme[start..end], block, "README.md's {name} table drifted from src/core/registry.rs");
            }
        }
        if std::env::var_os("MTLS_HEADERS_WRITE_README").is_some() {
            std::fs::write(path, readme).unwrap();
        }
    }

    /// Every parser field is documented in exactly one row, and every documented name is one the parser takes.
    #[test]
    fn field_table_covers_the_parser() {
        let documented: Vec<&str> = FIELD_ROWS.iter().flat_map(|r| r.names.iter().copied()).collect();
        for (name, _) in SIMPLE_FIELDS {
            assert_eq!(documented.iter().filter(|d| *d == name).count(), 1, "{name}");
        }
        for name in &documented {
            assert!(SIMPLE_FIELDS.iter().any(|(n, _)| n == name) || ARGUMENT_FIELDS.contains(name), "{name}");
        }
        assert!(ARGUMENT_FIELDS.iter().all(|a| documented.contains(a)));
    }

    /// Every preset parses, and the JSON Schema has exactly the registry's keys.
    #[test]
    fn presets_parse_and_the_schema_has_every_key() {
        for p in PRESETS {
            let json = format!(r#"{{"preset":"{}","validate_token":"t"}}"#, p.name);
            let cfg = Config::parse(json.as_bytes(), &|_| None).unwrap();
            assert_eq!(cfg.mappings.len(), p.headers.len(), "{}", p.name);
        }
        let schema = crate::config::json_schema();
        let mut properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let mut keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        properties.sort();
        keys.sort_unstable();
        assert_eq!(properties, keys);
    }
}

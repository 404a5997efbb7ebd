//! The configuration's vocabulary, declared once: its keys, their choices, the presets and the fields. The parser
//! (config.rs), the JSON Schema (`config::json_schema`, kong/mtls_headers.meta.json) and README.md's reference
//! tables are made from these tables; tests fail when the README or the schema drifts from them.

use crate::config::{Bound, Bytes, Digest, Field, Gcp, HostKind, Mode, Source, TimeForm};

/// A configuration key, as the README's reference table shows it.
/// The README's words (`default`, `doc`) exist in test builds only: the filter carries names, not documentation.
pub struct Key {
    pub name: &'static str,
    #[cfg(test)]
    pub default: &'static str,
    #[cfg(test)]
    pub doc: &'static str,
}

/// Every key the configuration object may have: anything else is refused.
pub const KEYS: &[Key] = &[
    Key {
        name: "mode",
        #[cfg(test)]
        default: "`\"optional\"`",
        #[cfg(test)]
        doc: "`\"required\"`: anything but a verified certificate gets a local reply; `\"audit\"`: as `optional`, and every request `required` would refuse is counted (`mtls_headers.audit.would_refuse`) and logged with its reason (section Metrics and audit)",
    },
    Key {
        name: "preset",
        #[cfg(test)]
        default: "`\"none\"`",
        #[cfg(test)]
        doc: "a ready header mapping: `\"baas\"`, `\"cloudflare\"`, `\"rfc9440\"`, `\"envoy-xfcc\"`, `\"aws-alb\"`, `\"gcp\"`, `\"traefik\"`, `\"ingress-nginx\"` (section Presets)",
    },
    Key {
        name: "headers",
        #[cfg(test)]
        default: "`{}`",
        #[cfg(test)]
        doc: "extra mappings `{\"header-name\": \"field\"}`; a name the preset also writes is replaced",
    },
    Key {
        name: "strip_prefixes",
        #[cfg(test)]
        default: "`[\"x-ssl\"]`",
        #[cfg(test)]
        doc: "owned name prefixes (case-insensitive, `_` read as `-`)",
    },
    Key {
        name: "strip_headers",
        #[cfg(test)]
        default: "`[]`",
        #[cfg(test)]
        doc: "further owned names; every mapped header is owned anyway",
    },
    Key {
        name: "validate_token",
        #[cfg(test)]
        default: "—",
        #[cfg(test)]
        doc: "the shared secret (a header value: visible ASCII). Never logged",
    },
    Key {
        name: "validate_token_env",
        #[cfg(test)]
        default: "—",
        #[cfg(test)]
        doc: "read the secret from this environment variable of the VM instead",
    },
    Key {
        name: "utf8",
        #[cfg(test)]
        default: "`false`",
        #[cfg(test)]
        doc: "DN and attribute text as raw UTF-8 instead of OpenSSL's `\\E5\\B1\\B1` escapes",
    },
    Key {
        name: "trusted_issuers",
        #[cfg(test)]
        default: "`[]`",
        #[cfg(test)]
        doc: "if set, only certificates whose issuer DN (RFC 2253, escaped form) is listed count as verified",
    },
    Key {
        name: "trusted_spiffe_domains",
        #[cfg(test)]
        default: "`[]`",
        #[cfg(test)]
        doc: "if set, only an X.509-SVID (exactly one URI SAN, a valid SPIFFE ID) of a listed trust domain counts as verified: `FAILED:not an X.509-SVID`, `FAILED:SPIFFE trust domain not trusted` (section Policy)",
    },
    Key {
        name: "san_allow",
        #[cfg(test)]
        default: "`{}`",
        #[cfg(test)]
        doc: "`{\"dns\": [\"*.example.com\"], \"uri\": [\"spiffe://example.org/ns/*\"], \"email\": [...], \"ip\": [\"192.0.2.*\"]}`: if set, a certificate counts as verified only when one of its SANs matches a pattern of its type (`*`: any run of characters; DNS case-insensitive), else `FAILED:no SAN matches san_allow`",
    },
    Key {
        name: "min_remaining_validity",
        #[cfg(test)]
        default: "`0`",
        #[cfg(test)]
        doc: "seconds: a certificate whose notAfter is nearer than this (host clock) counts as not verified, `FAILED:certificate expires within min_remaining_validity`",
    },
    Key {
        name: "check_validity",
        #[cfg(test)]
        default: "`true`",
        #[cfg(test)]
        doc: "a certificate outside notBefore..notAfter (host clock) counts as not verified",
    },
    Key {
        name: "max_header_bytes",
        #[cfg(test)]
        default: "`8192`",
        #[cfg(test)]
        doc: "size budget per injected header line (`name: value` and CRLF); over it, the header is dropped (section Size budget), never truncated",
    },
    Key {
        name: "max_total_bytes",
        #[cfg(test)]
        default: "`16384`",
        #[cfg(test)]
        doc: "size budget for all injected headers together; over it, headers are dropped in the documented order and `x-mtls-headers-dropped` names them",
    },
    Key {
        name: "sign",
        #[cfg(test)]
        default: "—",
        #[cfg(test)]
        doc: "`{\"key_env\": \"VAR\", \"keyid\": \"mtls-headers\", \"label\": \"mtls\"}`: sign the injected headers with RFC 9421 HTTP Message Signatures, `hmac-sha256`, the key being environment variable `VAR`'s bytes as they are (read from the VM's environment only, at least 32 bytes, never logged); `signature` and `signature-input` become owned (section Signed identity)",
    },
    Key {
        name: "reject_status",
        #[cfg(test)]
        default: "`403`",
        #[cfg(test)]
        doc: "status of the local reply (4xx/5xx)",
    },
    Key {
        name: "reject_body",
        #[cfg(test)]
        default: "`\"client certificate required\\n\"`",
        #[cfg(test)]
        doc: "its body (at most 1024 bytes)",
    },
    Key {
        name: "host",
        #[cfg(test)]
        default: "`\"auto\"`",
        #[cfg(test)]
        doc: "`\"envoy\"` or `\"kong\"` (any nginx with ngx_wasm_module); `auto` asks once per VM for `ngx.nginx_version`, which only ngx_wasm_module answers",
    },
    Key {
        name: "assume_verified_by_listener",
        #[cfg(test)]
        default: "`false`",
        #[cfg(test)]
        doc: "Envoy before 1.39 only (no `connection.peer_certificate_valid`): count a presented certificate as verified because the listener refuses unverified ones (no `ACCEPT_UNTRUSTED`). Without it such an Envoy verifies nothing: `FAILED:verification status unavailable` (section Envoy, \"Envoy versions\")",
    },
    Key {
        name: "source",
        #[cfg(test)]
        default: "`\"auto\"`",
        #[cfg(test)]
        doc: "Envoy only: `\"property\"` (`connection.peer_certificate`), `\"xfcc\"`, or `auto` (property, else XFCC)",
    },
];

pub const MODES: &[(&str, Mode)] =
    &[("optional", Mode::Optional), ("required", Mode::Required), ("audit", Mode::Audit)];
pub const HOSTS: &[(&str, HostKind)] =
    &[("auto", HostKind::Auto), ("envoy", HostKind::Envoy), ("kong", HostKind::Kong)];
pub const SOURCES: &[(&str, Source)] =
    &[("auto", Source::Auto), ("property", Source::Property), ("xfcc", Source::Xfcc)];

/// One header a preset writes: its name, the field it carries, and what a reader of the README needs to know.
pub struct PresetHeader {
    pub name: &'static str,
    pub field: &'static str,
    #[cfg(test)]
    pub doc: &'static str,
}

pub struct Preset {
    pub name: &'static str,
    /// The README's words before the preset's table.
    #[cfg(test)]
    pub summary: &'static str,
    pub headers: &'static [PresetHeader],
}

const fn h(name: &'static str, field: &'static str, doc: &'static str) -> PresetHeader {
    #[cfg(not(test))]
    let _ = doc;
    PresetHeader {
        name,
        field,
        #[cfg(test)]
        doc,
    }
}

/// The ready mappings `preset` chooses from.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "none",
        #[cfg(test)]
        summary: "",
        headers: &[],
    },
    Preset {
        name: "baas",
        #[cfg(test)]
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
        #[cfg(test)]
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
        #[cfg(test)]
        summary: "RFC 9440's `Client-Cert` and `Client-Cert-Chain` headers. `Client-Cert-Chain` is sent where the host gives the chain and the client presented certificates after its own: on Envoy from the `Chain=` of the `x-forwarded-client-cert` Envoy's connection manager writes (`forward_client_cert_details: SANITIZE_SET` with `set_current_client_cert_details.chain`), whose first certificate must be the connection's; never on ngx_wasm_module, which gives a filter only the leaf (`ngx.ssl_client_raw_cert`). Like every chain a TLS server receives, its certificates are the client's choice: only the leaf was verified to chain to a trusted CA (RFC 9440 section 2.3 asks for them as sent).",
        headers: &[
            h("client-cert", "client_cert_rfc9440", "the leaf as a structured-field byte sequence (`:base64-DER:`)"),
            h(
                "client-cert-chain",
                "client_cert_chain_rfc9440",
                "the certificates presented after the leaf, in TLS order: `:base64-DER:, :base64-DER:`",
            ),
        ],
    },
    Preset {
        name: "envoy-xfcc",
        #[cfg(test)]
        summary: "`x-forwarded-client-cert` as Envoy's connection manager writes it under `forward_client_cert_details: SANITIZE_SET` with `set_current_client_cert_details` `subject`, `cert`, `uri`, `dns` (Envoy docs, HTTP header manipulation, x-forwarded-client-cert; source/common/http/conn_manager_utility.cc): byte-identical to Envoy's for certificates whose Subject and SANs hold none of `,;=\"\\`, `%` or a space (tests/e2e: bob, carol and dave against Envoy 1.40 itself, with and without `chain`). Where Envoy writes a URI or DNS SAN raw, so that one holding `;` or `,` adds fields or elements, the filter double-quotes every value holding `,;=\"\\` and backslash-escapes `\"` and `\\` inside quotes (the grammar Envoy documents), and writes SAN bytes as `san_dns` elements do (`%XX` for `%`, `,`, space, bytes outside visible ASCII). Differences: no `By` (the proxy's own certificate; the filter is not told about it); `Chain` (every presented certificate, the leaf first, URL-encoded PEM, after `Cert`, as Envoy orders them) only where the host gives the chain, as for preset `rfc9440`'s `client-cert-chain`; on ngx_wasm_module never. The client's `x-forwarded-client-cert` is owned and stripped like every mapped header; on Envoy, use this preset instead of the connection manager's own XFCC, not with it.",
        headers: &[h("x-forwarded-client-cert", "envoy.xfcc", "`Hash=<sha256 hex>;Cert=\"<url-encoded PEM>\";Chain=\"<url-encoded PEMs>\";Subject=\"<RFC 2253>\";URI=<uri>…;DNS=<dns>…` (`Chain` where the host gives the chain; a bare `URI=` when there is none, as Envoy writes it)")],
    },
    Preset {
        name: "aws-alb",
        #[cfg(test)]
        summary: "The headers an AWS Application Load Balancer sends in mTLS verify mode (Elastic Load Balancing User Guide, \"Mutual authentication with TLS\", HTTP headers). ALB refuses the handshake without a valid certificate; behind this filter, headers come only for a verified certificate.",
        headers: &[
            h("x-amzn-mtls-clientcert-serial-number", "serial", "upper-case hex, no colons (ALB's `03A5B1`)"),
            h("x-amzn-mtls-clientcert-issuer", "issuer_dn", "RFC 2253"),
            h("x-amzn-mtls-clientcert-subject", "subject_dn", "RFC 2253"),
            h("x-amzn-mtls-clientcert-validity", "alb.validity", "`NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z`"),
            h("x-amzn-mtls-clientcert-leaf", "alb.leaf", "the leaf PEM URL-encoded with `+=/` left as they are"),
        ],
    },
    Preset {
        name: "gcp",
        #[cfg(test)]
        summary: "Google Cloud Application Load Balancer's mTLS custom-header variables, under the header names Google's docs use (Cloud Load Balancing, \"Create custom headers\", mutual TLS variables), with Google's size limits: a variable over its limit is named in `client_cert_error` (comma-joined) and its header is not sent (Google sends it empty). Differences: the certificate variables are sent only for a verified certificate (Google also fills some for one that failed validation when the backend allows it); no `X-Client-Cert-Chain` in the preset (where the host gives the chain, map `client_cert_chain_rfc9440` to it).",
        headers: &[
            h("x-client-cert-present", "gcp.client_cert_present", "`true` when a certificate was presented, `false` when none was"),
            h("x-client-cert-chain-verified", "gcp.client_cert_chain_verified", "`true` for a verified certificate, else `false`"),
            h("x-client-cert-error", "gcp.client_cert_error", "`client_cert_not_provided`, `client_cert_validation_failed`, or the `…_exceeded_size_limit` names of a verified certificate's oversized variables; not sent when there is none"),
            h("x-client-cert-hash", "gcp.client_cert_sha256_fingerprint", "SHA-256 of the DER, base64"),
            h("x-client-cert-serial-number", "gcp.client_cert_serial_number", "upper-case hex (at most 50 bytes)"),
            h("x-client-cert-spiffe", "gcp.client_cert_spiffe_id", "the SPIFFE ID (at most 2048 bytes)"),
            h("x-client-cert-uri-sans", "gcp.client_cert_uri_sans", "each URI SAN but the SPIFFE ID, base64, joined with `,` (at most 512 bytes)"),
            h("x-client-cert-dnsname-sans", "gcp.client_cert_dnsname_sans", "each DNS SAN, base64, joined with `,` (at most 512 bytes)"),
            h("x-client-cert-valid-not-before", "gcp.client_cert_valid_not_before", "RFC 3339, `2022-07-01T18:05:09+00:00`"),
            h("x-client-cert-valid-not-after", "gcp.client_cert_valid_not_after", "RFC 3339"),
            h("x-client-cert-issuer-dn", "gcp.client_cert_issuer_dn", "the issuer Name's DER, base64 (at most 512 bytes)"),
            h("x-client-cert-subject-dn", "gcp.client_cert_subject_dn", "the subject Name's DER, base64 (at most 512 bytes)"),
            h("x-client-cert-leaf", "gcp.client_cert_leaf", "RFC 9440 `:base64-DER:` (DER at most 16 KB)"),
        ],
    },
    Preset {
        name: "traefik",
        #[cfg(test)]
        summary: "Traefik's `passTLSClientCert` middleware with `pem: true` and every `info` option on (pkg/middlewares/passtlsclientcert/pass_tls_client_cert.go). Differences: the leaf only (Traefik sends every certificate the client presented, comma-joined); inside `-Info`, `\\`, `\"`, `,` and `;` in a value get a backslash (Traefik leaves them, so `O=Acme, Inc.` reads as two fields there).",
        headers: &[
            h("x-forwarded-tls-client-cert", "cert_der_base64", "the PEM without its armor and line breaks: the DER, base64"),
            h("x-forwarded-tls-client-cert-info", "traefik.info", "`Subject=\"…\";Issuer=\"…\";SerialNumber=\"…\";NB=\"…\";NA=\"…\";SAN=\"…\"`, Go `url.QueryEscape`d: DN parts as Go's `pkix.Name` gives them (every DC, C, ST, L, O, OU in certificate order, then the last serialNumber as `SN` and the last CN; no OU in the issuer), decimal serial, Unix times, SANs as DNS, email, IP, URI"),
        ],
    },
    Preset {
        name: "ingress-nginx",
        #[cfg(test)]
        summary: "What ingress-nginx sends upstream with `nginx.ingress.kubernetes.io/auth-tls-secret` and `auth-tls-pass-certificate-to-upstream: \"true\"` (rootfs/etc/nginx/template/nginx.tmpl: nginx's `$ssl_client_verify`, `$ssl_client_s_dn`, `$ssl_client_i_dn`, `$ssl_client_escaped_cert`; tests/e2e compares the filter with these variables on the real nginx). Difference: the DNs and the certificate only for a verified certificate (nginx also fills them for one that failed with `optional_no_ca`).",
        headers: &[
            h("ssl-client-verify", "verify", "`SUCCESS`, `NONE`, `FAILED:<reason>`"),
            h("ssl-client-subject-dn", "subject_dn", "RFC 2253"),
            h("ssl-client-issuer-dn", "issuer_dn", "RFC 2253"),
            h("ssl-client-cert", "cert_pem_urlencoded", "the leaf PEM, URL-encoded"),
        ],
    },
];

/// Field names that take no argument (`static:<value>`, `subject.<attr>` and `issuer.<attr>` are the others).
pub const SIMPLE_FIELDS: &[(&str, Field)] = &[
    ("subject_dn", Field::SubjectDn),
    ("issuer_dn", Field::IssuerDn),
    ("subject_dn_legacy", Field::SubjectDnLegacy),
    ("issuer_dn_legacy", Field::IssuerDnLegacy),
    ("serial", Field::Serial),
    ("serial_decimal", Field::SerialDecimal),
    ("serial_colon", Field::SerialColon),
    ("fingerprint_sha1", Field::Fingerprint(Digest::Sha1, Bytes::Hex)),
    ("fingerprint_sha256", Field::Fingerprint(Digest::Sha256, Bytes::Hex)),
    ("fingerprint_sha1_colon", Field::Fingerprint(Digest::Sha1, Bytes::ColonHex)),
    ("fingerprint_sha256_colon", Field::Fingerprint(Digest::Sha256, Bytes::ColonHex)),
    ("fingerprint_sha1_base64", Field::Fingerprint(Digest::Sha1, Bytes::Base64)),
    ("fingerprint_sha256_base64", Field::Fingerprint(Digest::Sha256, Bytes::Base64)),
    ("x5t_s256", Field::X5tS256),
    ("pin_sha256", Field::PinSha256),
    ("cert_der_base64", Field::CertDerBase64),
    ("cert_pem_urlencoded", Field::CertPemUrlencoded),
    ("client_cert_rfc9440", Field::ClientCertRfc9440),
    ("client_cert_chain_rfc9440", Field::ClientCertChainRfc9440),
    ("not_before", Field::Time(Bound::NotBefore, TimeForm::OpenSsl)),
    ("not_after", Field::Time(Bound::NotAfter, TimeForm::OpenSsl)),
    ("not_before_rfc3339", Field::Time(Bound::NotBefore, TimeForm::Rfc3339)),
    ("not_after_rfc3339", Field::Time(Bound::NotAfter, TimeForm::Rfc3339)),
    ("not_before_unix", Field::Time(Bound::NotBefore, TimeForm::Unix)),
    ("not_after_unix", Field::Time(Bound::NotAfter, TimeForm::Unix)),
    ("san_dns", Field::SanDns),
    ("san_uri", Field::SanUri),
    ("san_email", Field::SanEmail),
    ("san_ip", Field::SanIp),
    ("san_upn", Field::SanUpn),
    ("san_dirname", Field::SanDirName),
    ("spiffe_id", Field::SpiffeId),
    ("alb.validity", Field::AlbValidity),
    ("alb.leaf", Field::AlbLeaf),
    ("traefik.info", Field::TraefikInfo),
    ("envoy.xfcc", Field::Xfcc),
    ("gcp.client_cert_present", Field::Gcp(Gcp::Present)),
    ("gcp.client_cert_chain_verified", Field::Gcp(Gcp::ChainVerified)),
    ("gcp.client_cert_error", Field::Gcp(Gcp::Error)),
    ("gcp.client_cert_sha256_fingerprint", Field::Gcp(Gcp::Sha256Fingerprint)),
    ("gcp.client_cert_serial_number", Field::Gcp(Gcp::SerialNumber)),
    ("gcp.client_cert_spiffe_id", Field::Gcp(Gcp::SpiffeId)),
    ("gcp.client_cert_uri_sans", Field::Gcp(Gcp::UriSans)),
    ("gcp.client_cert_dnsname_sans", Field::Gcp(Gcp::DnsnameSans)),
    ("gcp.client_cert_valid_not_before", Field::Gcp(Gcp::ValidNotBefore)),
    ("gcp.client_cert_valid_not_after", Field::Gcp(Gcp::ValidNotAfter)),
    ("gcp.client_cert_issuer_dn", Field::Gcp(Gcp::IssuerDn)),
    ("gcp.client_cert_subject_dn", Field::Gcp(Gcp::SubjectDn)),
    ("gcp.client_cert_leaf", Field::Gcp(Gcp::Leaf)),
    ("verify", Field::Verify),
    ("validated", Field::Validated),
    ("present", Field::Present),
    ("validate_token", Field::ValidateToken),
];

/// The forms of field that take an argument, as the README writes them.
pub const ARGUMENT_FIELDS: &[&str] =
    &["subject.<ATTR>", "issuer.<ATTR>", "subject.<ATTR>.<N>", "issuer.<ATTR>.<N>", "static:<text>"];

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
        names: &["subject.<ATTR>.<N>", "issuer.<ATTR>.<N>"],
        doc: "the attribute of that type at index N in DER order, 0 being the first (`subject.OU.1` is the second OU, Apache's `SSL_CLIENT_S_DN_OU_1`), escaped as above; a short name only, since a dotted OID followed by `.1` is another OID",
    },
    FieldRow {
        names: &["serial"],
        doc: "upper-case hex, no colons",
    },
    FieldRow {
        names: &["serial_decimal"],
        doc: "decimal (`291`), as Traefik writes `SerialNumber`; `-` before a negative serial",
    },
    FieldRow {
        names: &["serial_colon"],
        doc: "lower-case hex octets joined with `:` (`01:23`), as `openssl x509 -text` prints a serial too large for a C `long`",
    },
    FieldRow {
        names: &["fingerprint_sha1", "fingerprint_sha256"],
        doc: "lower-case hex of the DER's digest",
    },
    FieldRow {
        names: &["fingerprint_sha1_colon", "fingerprint_sha256_colon"],
        doc: "upper-case hex pairs joined with `:`, as `openssl x509 -fingerprint` prints it",
    },
    FieldRow {
        names: &["fingerprint_sha1_base64", "fingerprint_sha256_base64"],
        doc: "the digest, base64 (RFC 4648 section 4, padded)",
    },
    FieldRow {
        names: &["x5t_s256"],
        doc: "RFC 8705 section 3.1's `x5t#S256`: the DER's SHA-256, base64url without padding, for certificate-bound OAuth tokens",
    },
    FieldRow {
        names: &["pin_sha256"],
        doc: "RFC 7469 section 2.4's `pin-sha256`: SHA-256 of the SubjectPublicKeyInfo DER, base64 (stays the same across a renewal with the same key)",
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
        names: &["client_cert_chain_rfc9440"],
        doc: "RFC 9440 section 2.3: the certificates the client presented after the leaf, in TLS order, `:base64-DER:, :base64-DER:`; not sent when there are none or the host gives no chain (preset `rfc9440`)",
    },
    FieldRow {
        names: &["not_before", "not_after"],
        doc: "`Dec 22 19:39:00 2018 GMT` (OpenSSL `ASN1_TIME_print`)",
    },
    FieldRow {
        names: &["not_before_rfc3339", "not_after_rfc3339"],
        doc: "`2018-12-22T19:39:00Z` (RFC 3339 section 5.6, UTC)",
    },
    FieldRow {
        names: &["not_before_unix", "not_after_unix"],
        doc: "seconds since the Unix epoch (`1545507540`)",
    },
    FieldRow {
        names: &["san_dns", "san_uri", "san_email", "san_ip"],
        doc: "all SANs of that kind in certificate order, joined with `,`. Each value is percent-encoded (RFC 3986 section 2.1, `%XX`, upper-case hex) for `%`, `,`, space and every byte outside visible ASCII (0x21–0x7E), so a reader splits on `,` and then percent-decodes each element: the one URI SAN `https://ok.example/p,spiffe://example.org/ns/prod/sa/admin` is `https://ok.example/p%2Cspiffe://example.org/ns/prod/sa/admin`, the email `\"a,b\"@example.com` is `\"a%2Cb\"@example.com`. A DNS, URI or email SAN with bytes outside IA5 (UTF-8 `café.example`) is accepted, as OpenSSL, nginx and Envoy accept it, and encoded the same way (`caf%C3%A9.example`). IP SANs: IPv4 dotted, IPv6 in RFC 5952 form (`::1`, `2001:db8::1`, `::ffff:192.0.2.1`, where OpenSSL and nginx print `0:0:0:0:0:0:0:1`), and an IP SAN of any length but 4 or 16 bytes as `#` and lower-case hex (`#c0a80001ff`). Other SAN kinds are in `san_upn` and `san_dirname`, or not read (registeredID, x400Address, ediPartyName, otherNames but the UPN)",
    },
    FieldRow {
        names: &["san_upn"],
        doc: "every otherName SAN of type Microsoft UPN (1.3.6.1.4.1.311.20.2.3, a UTF8String), encoded and joined as `san_dns`: `alice@corp.example`",
    },
    FieldRow {
        names: &["san_dirname"],
        doc: "every directoryName SAN as its RFC 2253 text (as `subject_dn`, `utf8` applies), encoded and joined as `san_dns`, so the DN's own `,` and spaces are `%2C` and `%20`: `CN=Alice%2CO=Example%20Org`",
    },
    FieldRow {
        names: &["spiffe_id"],
        doc: "the URI SAN when it is the only one and starts with `spiffe://` (X.509-SVID), encoded as a `san_uri` element (a valid SPIFFE ID has no byte that needs it, so it comes out unchanged)",
    },
    FieldRow {
        names: &["alb.validity", "alb.leaf"],
        doc: "AWS ALB's `-Validity` (`NotBefore=<RFC 3339>;NotAfter=<RFC 3339>`) and `-Leaf` (the PEM URL-encoded, `+=/` kept): preset `aws-alb`",
    },
    FieldRow {
        names: &["traefik.info"],
        doc: "Traefik's `X-Forwarded-Tls-Client-Cert-Info`: preset `traefik`",
    },
    FieldRow {
        names: &["envoy.xfcc"],
        doc: "the leaf's `x-forwarded-client-cert` element: preset `envoy-xfcc`",
    },
    FieldRow {
        names: &[
            "gcp.client_cert_present",
            "gcp.client_cert_chain_verified",
            "gcp.client_cert_error",
            "gcp.client_cert_sha256_fingerprint",
            "gcp.client_cert_serial_number",
            "gcp.client_cert_spiffe_id",
            "gcp.client_cert_uri_sans",
            "gcp.client_cert_dnsname_sans",
            "gcp.client_cert_valid_not_before",
            "gcp.client_cert_valid_not_after",
            "gcp.client_cert_issuer_dn",
            "gcp.client_cert_subject_dn",
            "gcp.client_cert_leaf",
        ],
        doc: "Google Cloud's mTLS variables of the same names, with their size limits: preset `gcp`. `present`, `chain_verified` and `error` are sent on every request (as `verify`), the others for a verified certificate",
    },
    FieldRow {
        names: &["verify"],
        doc: "`SUCCESS`, `NONE`, `FAILED:<reason>` (like nginx `$ssl_client_verify`)",
    },
    FieldRow {
        names: &["validated"],
        doc: "`1` for a verified certificate, absent otherwise",
    },
    FieldRow {
        names: &["present"],
        doc: "on every request: `1` when a certificate was presented (verified or not), `0` when none was; like `verify`, not sent when the host's answer could not be read",
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

//! Distinguished-name formatting against OpenSSL's own output: every certificate in tests/fixtures/dn (made by
//! gen.sh there) has golden files written by `openssl x509 -nameopt RFC2253` and `X509_NAME_oneline`.
// The whole file is test code: helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64ct::{Base64, Encoding};
use mtls_headers::cert::dn;
use x509_cert::der::Decode;
use x509_cert::Certificate;

/// gen.sh writes this many certificates; a lost fixture must not go unnoticed.
const FIXTURES: usize = 21;

/// x509-cert rejects a UniversalString in a name (it has no tag for it), so the filter fails closed on these.
const UNPARSEABLE: &[&str] = &["universal"];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dn")
}

/// Fixture names (file stems of the `.pem` files), sorted.
fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/dn")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
        .map(|path| path.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), FIXTURES, "fixtures: {names:?}");
    names
}

fn golden(name: &str, ext: &str) -> Vec<u8> {
    let path = fixture_dir().join(format!("{name}.{ext}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn der(name: &str) -> Vec<u8> {
    let pem = String::from_utf8(golden(name, "pem")).expect("PEM is ASCII");
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    Base64::decode_vec(&body).expect("base64")
}

/// What the filter sends for OpenSSL's output: a DN that OpenSSL ends with a space ends in `\20` (RFC 2253, where
/// OpenSSL writes `\ `) or `\x20` (legacy) instead, since HTTP recipients strip trailing whitespace (RFC 9110 section
/// 5.5; README.md, field table). Only edge_end.* has such an ending.
fn as_sent(mut openssl: Vec<u8>, ext: &str) -> Vec<u8> {
    if openssl.last() == Some(&b' ') {
        openssl.pop();
        openssl.extend_from_slice(if ext == "legacy" { b"\\x20" } else { b"20" });
    }
    openssl
}

#[test]
fn formatting_matches_openssl_golden_files() {
    let mut failures = Vec::new();
    for name in fixtures() {
        let der = der(&name);
        let cert = match Certificate::from_der(&der) {
            Ok(cert) => cert,
            Err(e) => {
                assert!(UNPARSEABLE.contains(&name.as_str()), "{name}: {e}");
                continue;
            }
        };
        assert!(!UNPARSEABLE.contains(&name.as_str()), "{name} parses now: give it golden assertions");
        let subject = cert.tbs_certificate().subject();
        for (ext, got) in [
            ("rfc2253", dn::rfc2253(subject, false)),
            ("rfc2253utf8", dn::rfc2253(subject, true)),
            ("legacy", dn::legacy(subject)),
        ] {
            let want = as_sent(golden(&name, ext), ext);
            if got.as_bytes() != want.as_slice() {
                failures.push(format!("{name}.{ext}\n  want {}\n  got  {got}", String::from_utf8_lossy(&want)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every attribute type the filter prints by name is in some fixture, so its name is OpenSSL's (names.pem has them
/// all): README.md's byte-identity claim covers exactly these types.
#[test]
fn every_named_attribute_type_is_golden_tested() {
    let mut seen = Vec::new();
    for name in fixtures() {
        if let Ok(cert) = Certificate::from_der(&der(&name)) {
            seen.extend(cert.tbs_certificate().subject().iter().map(|atv| atv.oid));
        }
    }
    let missing: Vec<&str> = dn::attribute_types().filter(|(oid, _)| !seen.contains(oid)).map(|(_, sn)| sn).collect();
    assert!(missing.is_empty(), "no golden fixture has {missing:?}: add them to tests/fixtures/dn/gen.sh");
}

/// The golden files are what the installed OpenSSL prints now (this fails, not skips, without an openssl CLI).
#[test]
fn golden_files_match_live_openssl() {
    for name in fixtures() {
        let pem = fixture_dir().join(format!("{name}.pem"));
        for (ext, nameopt) in [("rfc2253", "RFC2253"), ("rfc2253utf8", "RFC2253,-esc_msb")] {
            let output = Command::new("openssl")
                .args(["x509", "-noout", "-subject", "-nameopt", nameopt, "-in"])
                .arg(&pem)
                .output()
                .expect("the openssl CLI is required by this test");
            assert!(output.status.success(), "openssl failed on {name}: {}", String::from_utf8_lossy(&output.stderr));
            let printed =
                output.stdout.strip_prefix(b"subject=").and_then(|line| line.strip_suffix(b"\n")).unwrap_or_else(
                    || panic!("{name}: unexpected openssl output {:?}", String::from_utf8_lossy(&output.stdout)),
                );
            assert_eq!(
                String::from_utf8_lossy(printed),
                String::from_utf8_lossy(&golden(&name, ext)),
                "{name}.{ext} differs from `openssl x509 -nameopt {nameopt}`: rerun tests/fixtures/dn/gen.sh"
            );
            assert_eq!(printed, golden(&name, ext).as_slice(), "{name}.{ext}: bytes differ");
        }
    }
}

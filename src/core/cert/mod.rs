//! The client certificate, parsed once into owned values the header mapping reads.
//!
//! Parsing is strict DER (x509-cert): anything malformed, trailing bytes or an oversize input is an error and the
//! caller fails closed. The one leniency is in SAN content (`parse_sans`): bytes outside IA5 are kept, as OpenSSL
//! keeps them, and encoded when rendered.

pub mod dn;
mod time;

use core::net::{Ipv4Addr, Ipv6Addr};

use base64ct::{Base64, Encoding};
use der::asn1::AnyRef;
use der::asn1::{ObjectIdentifier, Utf8StringRef};
use der::oid::AssociatedOid;
use der::{Decode, Encode, Tag, Tagged};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::OtherName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::Name;
use x509_cert::{Certificate, TbsCertificate};

pub use time::{openssl_time, rfc3339, rfc3339_offset};

/// SHA-256 of a certificate's DER: the identity cache's key, and Envoy's `sha256_peer_certificate_digest`.
pub fn sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// 64 hex digits (either case) as 32 bytes: Envoy's `connection.sha256_peer_certificate_digest`.
pub fn hex_decode_32(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = hex_digit(*hi)? << 4 | hex_digit(*lo)?;
    }
    Some(out)
}

/// One hex digit, either case: the one decoder of digests, `%XX` and JSON's `\uXXXX`.
pub fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Largest certificate we accept (DER bytes). Client certificates are 1-2 KiB; this bounds work on hostile input.
pub const MAX_CERT_DER: usize = 16 * 1024;
/// The PEM of a `MAX_CERT_DER` certificate, with line breaks and markers, is well under this.
pub const MAX_CERT_PEM: usize = MAX_CERT_DER * 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    TooLarge,
    Pem(&'static str),
    Der,
    SubjectAltName,
}

impl core::fmt::Display for CertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CertError::TooLarge => f.write_str("certificate too large"),
            CertError::Pem(why) => write!(f, "bad PEM: {why}"),
            CertError::Der => f.write_str("bad DER certificate"),
            CertError::SubjectAltName => f.write_str("bad subjectAltName extension"),
        }
    }
}

/// Subject alternative names by kind (RFC 5280 section 4.2.1.6), in certificate order, as their content octets.
/// dNSName, rfc822Name and uniformResourceIdentifier are IA5Strings there, but bytes outside IA5 (UTF-8 `café`) are
/// kept: OpenSSL, nginx and Envoy accept such a certificate, and [`san_text`] encodes every such byte.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sans {
    pub dns: Vec<Vec<u8>>,
    pub uri: Vec<Vec<u8>>,
    pub email: Vec<Vec<u8>>,
    /// iPAddress octets: 4 or 16 in a conforming certificate, any length here ([`ip_text`]).
    pub ip: Vec<Vec<u8>>,
    /// otherName values of type Microsoft UPN (1.3.6.1.4.1.311.20.2.3), UTF8String content octets.
    pub upn: Vec<Vec<u8>>,
    pub dir_name: Vec<Name>,
}

/// A parsed leaf certificate.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub der: Vec<u8>,
    pub subject: Name,
    pub issuer: Name,
    /// Serial number content octets as encoded (two's complement, may have a leading 0x00).
    pub serial: Vec<u8>,
    /// Seconds since the Unix epoch.
    pub not_before: u64,
    pub not_after: u64,
    pub sans: Sans,
    pub sha256: [u8; 32],
    pub sha1: [u8; 20],
    /// SHA-256 of the SubjectPublicKeyInfo DER (RFC 7469 section 2.4).
    pub spki_sha256: [u8; 32],
}

impl ClientCert {
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        if der.len() > MAX_CERT_DER {
            return Err(CertError::TooLarge);
        }
        // `from_der` rejects trailing bytes after the outer SEQUENCE.
        let cert = Certificate::from_der(der).map_err(|_| CertError::Der)?;
        let tbs = cert.tbs_certificate();
        let sans = subject_alt_names(tbs)?;
        let validity = tbs.validity();
        let spki = tbs.subject_public_key_info().to_der().map_err(|_| CertError::Der)?;
        Ok(ClientCert {
            der: der.to_vec(),
            subject: tbs.subject().clone(),
            issuer: tbs.issuer().clone(),
            serial: tbs.serial_number().as_bytes().to_vec(),
            not_before: validity.not_before.to_unix_duration().as_secs(),
            not_after: validity.not_after.to_unix_duration().as_secs(),
            sans,
            sha256: Sha256::digest(der).into(),
            sha1: Sha1::digest(der).into(),
            spki_sha256: Sha256::digest(&spki).into(),
        })
    }

    /// Exactly one `CERTIFICATE` PEM block; only whitespace may surround it.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        Self::from_der(&pem_to_der(pem)?)
    }

    /// Serial number as nginx `$ssl_client_serial` and Envoy print it: upper-case hex, no colons, no sign padding
    /// (OpenSSL `i2a_ASN1_INTEGER`); a negative serial (non-conforming, RFC 5280 section 4.1.2.2) gets a `-`.
    pub fn serial_hex(&self) -> String {
        let bytes = self.serial.as_slice();
        let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
        let magnitude: Vec<u8> = if negative { twos_complement_magnitude(bytes) } else { bytes.to_vec() };
        let start = magnitude.iter().position(|b| *b != 0).unwrap_or(magnitude.len().saturating_sub(1));
        let digits = hex_upper(magnitude.get(start..).unwrap_or(&[]));
        let digits = if digits.is_empty() { "00".to_string() } else { digits };
        if negative {
            format!("-{digits}")
        } else {
            digits
        }
    }

    /// The serial in decimal (Traefik's `SerialNumber`), `-` before a negative one.
    pub fn serial_decimal(&self) -> String {
        let bytes = self.serial.as_slice();
        let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
        let mut magnitude: Vec<u8> = if negative { twos_complement_magnitude(bytes) } else { bytes.to_vec() };
        // Long division by 10, least significant digit first.
        let mut digits = Vec::new();
        while magnitude.iter().any(|b| *b != 0) {
            let mut rem = 0u16;
            for byte in magnitude.iter_mut() {
                let cur = rem << 8 | u16::from(*byte);
                *byte = u8::try_from(cur / 10).unwrap_or(0);
                rem = cur % 10;
            }
            digits.push(b'0' + u8::try_from(rem).unwrap_or(0));
        }
        if digits.is_empty() {
            digits.push(b'0');
        }
        if negative {
            digits.push(b'-');
        }
        digits.iter().rev().map(|d| char::from(*d)).collect()
    }

    /// The serial as `openssl x509 -text` prints one longer than a `long`: lower-case hex octets of its magnitude
    /// joined with `:` (`7b:e2:...`), `-` before a negative one.
    pub fn serial_colon(&self) -> String {
        let hex = self.serial_hex().to_ascii_lowercase();
        let (sign, digits) = hex.strip_prefix('-').map_or(("", hex.as_str()), |d| ("-", d));
        let pairs: Vec<&str> = digits.as_bytes().chunks(2).filter_map(|p| core::str::from_utf8(p).ok()).collect();
        format!("{sign}{}", pairs.join(":"))
    }

    pub fn der_base64(&self) -> String {
        Base64::encode_string(&self.der)
    }

    /// PEM with 64-character lines and a final newline, as OpenSSL writes it.
    pub fn pem(&self) -> String {
        der_to_pem(&self.der)
    }

    /// The SPIFFE ID: an X.509-SVID has exactly one URI SAN, with scheme `spiffe` (SPIFFE X509-SVID spec, 2).
    /// Encoded as a `san_uri` element ([`san_text`]), so it never carries a space, a control or a non-ASCII byte; a
    /// valid SPIFFE ID (SPIFFE ID spec, 2: letters, digits, `.`, `-`, `_`, `/`) comes out unchanged.
    pub fn spiffe_id(&self) -> Option<String> {
        match self.sans.uri.as_slice() {
            [only] if only.starts_with(b"spiffe://") => Some(san_text(only)),
            _ => None,
        }
    }
}

/// RFC 5280 section 4.1.2.5: valid from notBefore through notAfter inclusive (seconds since the Unix epoch).
pub fn validity_error(not_before: u64, not_after: u64, now_unix: u64) -> Option<&'static str> {
    if now_unix < not_before {
        Some("certificate is not yet valid")
    } else if now_unix > not_after {
        Some("certificate has expired")
    } else {
        None
    }
}

/// The subjectAltName extension, if any. RFC 5280 section 4.2: a certificate has at most one instance of it.
fn subject_alt_names(tbs: &TbsCertificate) -> Result<Sans, CertError> {
    let mut found = tbs.extensions().into_iter().flatten().filter(|e| e.extn_id == SubjectAltName::OID);
    match (found.next(), found.next()) {
        (None, _) => Ok(Sans::default()),
        (Some(ext), None) => parse_sans(ext.extn_value.as_bytes()),
        (Some(_), Some(_)) => Err(CertError::SubjectAltName),
    }
}

/// GeneralNames (RFC 5280 section 4.2.1.6), strict DER but lenient about content: the IA5String of an rfc822Name,
/// dNSName or URI is taken as bytes whatever they are, and the other kinds (otherName, directoryName, ...) are not
/// looked into. Every element must still be a GeneralName: context-specific tags [0] to [8], the four kinds kept
/// primitive as their IMPLICIT IA5String / OCTET STRING encodes in DER (X.690 section 10.2).
fn parse_sans(der: &[u8]) -> Result<Sans, CertError> {
    let names = Vec::<AnyRef>::from_der(der).map_err(|_| CertError::SubjectAltName)?;
    let mut sans = Sans::default();
    for name in names {
        let Tag::ContextSpecific { constructed, number } = name.tag() else {
            return Err(CertError::SubjectAltName);
        };
        let kind = match number.0 {
            1 => &mut sans.email,
            2 => &mut sans.dns,
            6 => &mut sans.uri,
            7 => &mut sans.ip,
            // otherName ([0] IMPLICIT OtherName) and directoryName ([4] EXPLICIT Name) are read strictly.
            0 => {
                let seq = AnyRef::new(Tag::Sequence, name.value()).and_then(|seq| seq.to_der());
                let other = seq.and_then(|seq| OtherName::from_der(&seq)).map_err(|_| CertError::SubjectAltName)?;
                if other.type_id == UPN {
                    let upn = Utf8StringRef::try_from(&other.value).map_err(|_| CertError::SubjectAltName)?;
                    sans.upn.push(upn.as_bytes().to_vec());
                }
                continue;
            }
            4 => {
                sans.dir_name.push(Name::from_der(name.value()).map_err(|_| CertError::SubjectAltName)?);
                continue;
            }
            3 | 5 | 8 => continue,
            _ => return Err(CertError::SubjectAltName),
        };
        if constructed {
            return Err(CertError::SubjectAltName);
        }
        kind.push(name.value().to_vec());
    }
    Ok(sans)
}

/// Microsoft's User Principal Name otherName (MS-WCCE section 2.2.2.7.7.2 of the certificate templates).
const UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

/// A SAN as one element of a `,`-joined list: `%`, `,`, space and every byte outside visible ASCII (0x21-0x7E) as
/// `%XX` (RFC 3986 section 2.1, upper-case hex). A reader splits on `,`, then percent-decodes each element; nothing
/// in it is a space an HTTP recipient would strip (RFC 9110 section 5.5). `caf\xc3\xa9.example` is
/// `caf%C3%A9.example`, the URI `https://ok.example/p,spiffe://x` is `https://ok.example/p%2Cspiffe://x`.
pub fn san_text(octets: &[u8]) -> String {
    let mut out = String::with_capacity(octets.len());
    for &b in octets {
        if matches!(b, 0x21..=0x7e) && b != b'%' && b != b',' {
            out.push(char::from(b));
        } else {
            out.push('%');
            push_hex_upper(&mut out, b);
        }
    }
    out
}

/// An iPAddress SAN: IPv4 dotted-decimal, IPv6 in RFC 5952 text (`2001:db8::1`, `::1`, `::ffff:192.0.2.1`; OpenSSL
/// prints every group, `0:0:0:0:0:0:0:1`). RFC 5280 section 4.2.1.6 allows 4 or 16 octets only; any other length is
/// `#` and lower-case hex of the octets (`#c0a80001ff`), so it is neither dropped nor mistaken for an address.
pub fn ip_text(octets: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(octets) {
        // std's Display is RFC 5952 section 4 (zeros compressed, lower case) and section 5 (IPv4-mapped dotted).
        Ipv6Addr::from(v6).to_string()
    } else {
        format!("#{}", hex_lower(octets))
    }
}

fn twos_complement_magnitude(bytes: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = bytes.iter().map(|b| !b).collect();
    for byte in out.iter_mut().rev() {
        let (v, carry) = byte.overflowing_add(1);
        *byte = v;
        if !carry {
            break;
        }
    }
    out
}

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// Decodes one PEM certificate. Envoy 1.40 and nginx give plain PEM with `\n` line breaks; we accept any ASCII
/// whitespace inside the base64 body and refuse anything else around the block (RFC 7468 section 2).
/// A certificate's PEM with 64-character lines and a final newline, as OpenSSL writes it.
pub fn der_to_pem(der: &[u8]) -> String {
    let b64 = Base64::encode_string(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The most certificates a presented chain may hold (the leaf included); a longer one is refused, not cut.
pub const MAX_CHAIN: usize = 10;

/// A sequence of `CERTIFICATE` PEM blocks (a presented chain, as Envoy's XFCC `Chain=` holds it), each decoded; only
/// whitespace may surround them.
pub fn pem_chain_to_der(pem: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    let mut out = Vec::new();
    let mut rest = trim_ascii(pem);
    while !rest.is_empty() {
        let end = find(rest, END).ok_or(CertError::Pem("missing END CERTIFICATE or trailing data"))? + END.len();
        if out.len() == MAX_CHAIN {
            return Err(CertError::TooLarge);
        }
        out.push(pem_to_der(rest.get(..end).unwrap_or_default())?);
        rest = trim_ascii(rest.get(end..).unwrap_or_default());
    }
    Ok(out)
}

/// Whether `der` is one certificate, and within the size any certificate here may have.
pub fn check_der(der: &[u8]) -> Result<(), CertError> {
    if der.len() > MAX_CERT_DER {
        return Err(CertError::TooLarge);
    }
    Certificate::from_der(der).map(|_| ()).map_err(|_| CertError::Der)
}

pub fn pem_to_der(pem: &[u8]) -> Result<Vec<u8>, CertError> {
    if pem.len() > MAX_CERT_PEM {
        return Err(CertError::TooLarge);
    }
    let text = trim_ascii(pem);
    let body = text
        .strip_prefix(BEGIN)
        .ok_or(CertError::Pem("missing BEGIN CERTIFICATE"))?
        .strip_suffix(END)
        .ok_or(CertError::Pem("missing END CERTIFICATE or trailing data"))?;
    if find(body, b"-----").is_some() {
        return Err(CertError::Pem("more than one PEM block"));
    }
    let compact: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    Base64::decode_vec(core::str::from_utf8(&compact).map_err(|_| CertError::Pem("non-ASCII body"))?)
        .map_err(|_| CertError::Pem("bad base64"))
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |i| i + 1);
    b.get(start..end).unwrap_or(&[])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

pub fn hex_upper(bytes: &[u8]) -> String {
    hex(bytes, HEX_UPPER)
}

pub fn hex_lower(bytes: &[u8]) -> String {
    hex(bytes, HEX_LOWER)
}

/// Upper-case hex pairs joined with `:`, as `openssl x509 -fingerprint` prints a digest.
pub fn hex_colon(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        push_hex(&mut s, b, HEX_UPPER);
    }
    s
}

/// Appends one byte as two upper-case hex digits (serials, `%XX`, OpenSSL's `\XX` escapes).
pub(crate) fn push_hex_upper(out: &mut String, b: u8) {
    push_hex(out, b, HEX_UPPER);
}

fn push_hex(out: &mut String, b: u8, digits: &[u8; 16]) {
    out.push(char::from(digits[usize::from(b >> 4)]));
    out.push(char::from(digits[usize::from(b & 0x0f)]));
}

fn hex(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        push_hex(&mut s, b, digits);
    }
    s
}

/// Percent-encodes everything but RFC 3986 unreserved characters (nginx `$ssl_client_escaped_cert` style).
pub fn url_encode(s: &str) -> String {
    percent_encode(s, b"-._~")
}

/// `%XX` (upper-case hex) for every byte but ASCII letters, digits and `keep`.
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            push_hex_upper(&mut out, b);
        }
    }
    out
}

/// Percent-decodes (`%XX`); `None` on a malformed escape.
pub fn url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            out.push(hex_digit(*s.get(i + 1)?)? << 4 | hex_digit(*s.get(i + 2)?)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_every_block_and_at_most_max_chain_of_them() {
        let block = |der: &[u8]| der_to_pem(der);
        let two = format!("\n{}{}\n", block(b"one"), block(b"two"));
        assert_eq!(pem_chain_to_der(two.as_bytes()).unwrap(), [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(pem_chain_to_der(b" \n").unwrap(), Vec::<Vec<u8>>::new());
        let trailing = format!("{}garbage", block(b"one"));
        assert!(pem_chain_to_der(trailing.as_bytes()).is_err());
        let many: String = (0..=MAX_CHAIN).map(|_| block(b"x")).collect();
        assert_eq!(pem_chain_to_der(many.as_bytes()), Err(CertError::TooLarge));
        let most: String = (0..MAX_CHAIN).map(|_| block(b"x")).collect();
        assert_eq!(pem_chain_to_der(most.as_bytes()).map(|d| d.len()), Ok(MAX_CHAIN));
        assert_eq!(check_der(b"one"), Err(CertError::Der));
    }

    #[test]
    fn serial_hex_matches_openssl_style() {
        let mut c = dummy();
        c.serial = vec![0x00, 0x8f, 0x01];
        assert_eq!(c.serial_hex(), "8F01");
        c.serial = vec![0x01, 0x23];
        assert_eq!(c.serial_hex(), "0123");
        c.serial = vec![0x00];
        assert_eq!(c.serial_hex(), "00");
        c.serial = vec![0xff];
        assert_eq!(c.serial_hex(), "-01");
    }

    #[test]
    fn serial_decimal_and_colon_forms() {
        let mut c = dummy();
        for (octets, decimal, colon) in [
            (&[0x00][..], "0", "00"),
            (&[0x01, 0x23], "291", "01:23"),
            (&[0x00, 0x8f, 0x01], "36609", "8f:01"),
            (&[0xff], "-1", "-01"),
            (&[0x80, 0x00], "-32768", "-80:00"),
            // 2^64: past what a u64 holds.
            (&[0x01, 0, 0, 0, 0, 0, 0, 0, 0], "18446744073709551616", "01:00:00:00:00:00:00:00:00"),
        ] {
            c.serial = octets.to_vec();
            assert_eq!((c.serial_decimal().as_str(), c.serial_colon().as_str()), (decimal, colon), "{octets:02x?}");
        }
    }

    #[test]
    fn pem_refuses_garbage_and_second_block() {
        assert!(matches!(pem_to_der(b"hello"), Err(CertError::Pem(_))));
        let one = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_to_der(one), Ok(vec![0, 0, 0]));
        let mut two = one.to_vec();
        two.extend_from_slice(one);
        assert!(pem_to_der(&two).is_err());
        let mut trailing = one.to_vec();
        trailing.extend_from_slice(b"junk");
        assert!(pem_to_der(&trailing).is_err());
        assert!(ClientCert::from_pem(one).is_err());
    }

    #[test]
    fn url_round_trip() {
        let s = "-----BEGIN CERTIFICATE-----\nMII+/=\n";
        let e = url_encode(s);
        assert_eq!(e, "-----BEGIN%20CERTIFICATE-----%0AMII%2B%2F%3D%0A");
        assert_eq!(url_decode(e.as_bytes()).as_deref(), Some(s.as_bytes()));
        assert_eq!(url_decode(b"%zz"), None);
        assert_eq!(url_decode(b"%4"), None);
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let len = u8::try_from(content.len()).unwrap();
        assert!(len < 0x80, "short form only");
        [&[tag, len][..], content].concat()
    }

    #[test]
    fn sans_keep_non_ia5_bytes_and_skip_other_kinds() {
        let names = [
            tlv(0x82, "café.example".as_bytes()),
            tlv(0xa0, &[tlv(0x06, &[0x2b, 0x06, 0x01]), tlv(0xa0, &tlv(0x0c, b"x"))].concat()), // otherName
            tlv(0x81, b"\"a,b\"@example.com"),
            tlv(0xa4, &tlv(0x30, &[])), // directoryName
            tlv(0x86, b"https://ok.example/p,spiffe://example.org/x"),
            tlv(0x88, &[0x2a, 0x03]), // registeredID
            tlv(0x87, &[192, 0, 2, 1]),
            tlv(0x87, &[192, 168, 0, 1, 0xff]),
            tlv(0x87, &[]),
        ];
        let sans = parse_sans(&tlv(0x30, &names.concat())).unwrap();
        assert_eq!(sans.dns, vec!["café.example".as_bytes().to_vec()]);
        assert_eq!(sans.email, vec![b"\"a,b\"@example.com".to_vec()]);
        assert_eq!(sans.uri, vec![b"https://ok.example/p,spiffe://example.org/x".to_vec()]);
        assert_eq!(sans.ip, vec![vec![192, 0, 2, 1], vec![192, 168, 0, 1, 0xff], vec![]]);
        assert_eq!(sans.upn, Vec::<Vec<u8>>::new(), "an otherName of another type is not a UPN");
        assert_eq!(sans.dir_name, vec![Name::default()]);
        assert_eq!(parse_sans(&tlv(0x30, &[])), Ok(Sans::default()));
    }

    #[test]
    fn sans_read_the_upn_and_refuse_a_malformed_one() {
        let upn = |value: Vec<u8>| tlv(0x30, &tlv(0xa0, &[tlv(0x06, UPN.as_bytes()), tlv(0xa0, &value)].concat()));
        let sans = parse_sans(&upn(tlv(0x0c, b"carol@corp.example"))).unwrap();
        assert_eq!(sans.upn, vec![b"carol@corp.example".to_vec()]);
        assert_eq!(parse_sans(&upn(tlv(0x16, b"ia5"))), Err(CertError::SubjectAltName), "not a UTF8String");
        assert_eq!(parse_sans(&tlv(0x30, &tlv(0xa0, &tlv(0x06, UPN.as_bytes())))), Err(CertError::SubjectAltName));
    }

    #[test]
    fn sans_refuse_what_is_not_general_names() {
        for bad in [
            tlv(0x30, &tlv(0xa2, &tlv(0x16, b"x"))), // a constructed dNSName is not DER
            tlv(0x30, &tlv(0x16, b"x")),             // not context-specific
            tlv(0x30, &tlv(0x89, b"x")),             // no GeneralName [9]
            tlv(0x31, &tlv(0x82, b"x")),             // a SET, not a SEQUENCE
            [tlv(0x30, &tlv(0x82, b"x")), vec![0]].concat(),
            vec![0x30, 0x03, 0x82, 0x05, b'x'],
        ] {
            assert_eq!(parse_sans(&bad), Err(CertError::SubjectAltName), "{bad:02x?}");
        }
    }

    #[test]
    fn san_text_encodes_percent_comma_space_and_every_non_visible_byte() {
        assert_eq!(san_text("café.example".as_bytes()), "caf%C3%A9.example");
        assert_eq!(
            san_text(b"https://ok.example/p,spiffe://example.org/ns/prod/sa/admin"),
            "https://ok.example/p%2Cspiffe://example.org/ns/prod/sa/admin"
        );
        assert_eq!(san_text(b" a b%41\t\x7f\x00\r\n"), "%20a%20b%2541%09%7F%00%0D%0A");
        assert_eq!(san_text(b"\"a,b\"@example.com"), "\"a%2Cb\"@example.com");
        let visible: Vec<u8> = (0x21..=0x7e).filter(|b| *b != b'%' && *b != b',').collect();
        assert_eq!(san_text(&visible).as_bytes(), visible.as_slice());
        for b in 0..=255u8 {
            assert_eq!(url_decode(san_text(&[b]).as_bytes()), Some(vec![b]));
        }
    }

    #[test]
    fn ip_text_is_rfc5952_or_hex() {
        assert_eq!(ip_text(&[192, 0, 2, 10]), "192.0.2.10");
        let v6 = |tail: &[u8]| [&[0u8; 16][..16 - tail.len()], tail].concat();
        assert_eq!(ip_text(&v6(&[1])), "::1");
        assert_eq!(ip_text(&v6(&[0xff, 0xff, 192, 0, 2, 1])), "::ffff:192.0.2.1");
        let doc = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(ip_text(&doc), "2001:db8::1");
        let groups = |g: [u16; 8]| g.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        assert_eq!(ip_text(&groups([1, 0, 0, 1, 0, 0, 0, 1])), "1:0:0:1::1", "the longest run of zeros goes");
        assert_eq!(ip_text(&groups([1, 0, 0, 1, 0, 0, 1, 1])), "1::1:0:0:1:1", "of two as long, the first");
        let mut one_zero = [0xabu8; 16];
        one_zero[2..4].fill(0);
        assert_eq!(ip_text(&one_zero), "abab:0:abab:abab:abab:abab:abab:abab", "a single zero group stays");
        assert_eq!(ip_text(&[192, 168, 0, 1, 0xff]), "#c0a80001ff");
        assert_eq!(ip_text(&[192, 168, 0, 0, 255, 255, 0, 0]), "#c0a80000ffff0000");
        assert_eq!(ip_text(&[]), "#");
    }

    #[test]
    fn spiffe_id_is_the_only_uri_encoded_like_san_uri() {
        let mut c = dummy();
        c.sans.uri = vec![b"spiffe://example.org/ns/prod/sa/alice".to_vec()];
        assert_eq!(c.spiffe_id().as_deref(), Some("spiffe://example.org/ns/prod/sa/alice"));
        c.sans.uri = vec![b"spiffe://example.org/a b,c\t".to_vec()];
        assert_eq!(c.spiffe_id().as_deref(), Some("spiffe://example.org/a%20b%2Cc%09"));
        c.sans.uri.push(b"spiffe://example.org/other".to_vec());
        assert_eq!(c.spiffe_id(), None);
        c.sans.uri = vec![b"https://example.org/".to_vec()];
        assert_eq!(c.spiffe_id(), None);
    }

    fn dummy() -> ClientCert {
        ClientCert {
            der: vec![],
            subject: Name::default(),
            issuer: Name::default(),
            serial: vec![],
            not_before: 0,
            not_after: 0,
            sans: Sans::default(),
            sha256: [0; 32],
            sha1: [0; 20],
            spki_sha256: [0; 32],
        }
    }
}

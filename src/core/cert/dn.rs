//! Distinguished-name formatting, byte for byte as OpenSSL 3 prints it, because that is what nginx, Envoy's
//! `subject`/`issuer` attributes and the BaaS server's configured issuer strings are compared against.
//!
//! - [`rfc2253`]: `X509_NAME_print_ex(.., XN_FLAG_RFC2253)` (`openssl x509 -nameopt RFC2253`), the RFC 4514 string
//!   form: RDNs in reverse order (section 2.1), escapes per section 2.4, unknown types and non-string values as
//!   `oid=#hex-of-DER` (section 2.4). OpenSSL details kept: the members of a multi-valued RDN are reversed too;
//!   every byte of a non-ASCII character becomes `\XX` (ESC_MSB) unless the caller asks for raw UTF-8; a value made of
//!   a single `#` is not escaped (crypto/asn1/a_strex.c `do_buf` flags its only character as the last one, and only a
//!   first `#` is special); a known attribute type prints its OpenSSL short name, an unknown one prints its dotted
//!   OID cut to 79 characters (OpenSSL's 80-byte buffer) and always a `#` hex dump.
//! - [`legacy`]: `X509_NAME_oneline` (crypto/x509/x509_obj.c): `/C=JP/O=Example/CN=alice`, DER order, `+` between
//!   members of a multi-valued RDN, the raw content octets with bytes outside `0x20..=0x7e` as `\xHH` and `/`, `+`
//!   escaped with a backslash.
//! - [`attribute`]: one attribute as header text (the first in DER order, like `X509_NAME_get_index_by_NID`).
//!
//! One deliberate difference, for HTTP: recipients strip a field value's leading and trailing spaces and tabs (RFC
//! 9110 section 5.5), so where OpenSSL's DN would end in a space, the last one is `\20` (RFC 2253) or `\x20` (legacy).
//! Neither form can start with whitespace, and tabs are escaped anywhere.
//!
//! String types are read the way OpenSSL reads them (a_strex.c `tag2nbyte`): UTF8String as UTF-8, BMPString as
//! UCS-2, the one-byte types (PrintableString, IA5String, TeletexString, NumericString, VisibleString) as Latin-1.
//! OpenSSL refuses to load a certificate whose name holds invalid UTF-8 or an invalid BMPString, so no OpenSSL output
//! exists for one; here such a value counts as a non-string value: `#` hex dump in [`rfc2253`], `None` from
//! [`attribute`]. Known differences, all decided by the parser before this module runs: x509-cert sorts the members
//! of a multi-valued RDN (OpenSSL keeps the encoded order, which only non-DER encoders leave unsorted); x509-cert
//! rejects a certificate with a UniversalString, an OID arc of 2^32 or more (`2.25.<UUID>`), `2.x` with x >= 40
//! (`2.999.1`) or an OID over 39 bytes in a name, all of which OpenSSL accepts. tests/dn_golden.rs compares with
//! OpenSSL on fixtures made by OpenSSL.

use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::asn1::Any;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Encode, Tag, Tagged};
use x509_cert::name::Name;

use super::push_hex_upper;

/// An OID prefix's DER content octets, and (last arc, OpenSSL short name) pairs under it.
type NameGroup = (&'static [u8], &'static [(u8, &'static str)]);

/// OpenSSL 3.0 short names (`OBJ_nid2sn`) of the attribute types found in certificate names, by OID: every name
/// OpenSSL has under X.520 (`2.5.4.*`), the COSINE pilot attributes (`0.9.2342.19200300.100.1.*`, RFC 4519 `UID`,
/// `DC`), the CA/Browser Forum EV jurisdiction attributes and RFC 3739 personal data; the PKCS #9 attribute types
/// (RFC 2985: `emailAddress`, `unstructuredName`, `challengePassword`, `friendlyName`, ...), Microsoft's `msUPN` and
/// the Russian qualified-certificate identifiers. Any other OID prints in dotted form with a `#` dump, as OpenSSL
/// prints an OID it has no name for; OpenSSL would name one that is elsewhere in its object table (an algorithm OID
/// used as an attribute type, say). tests/dn_golden.rs checks every entry against OpenSSL
/// (tests/fixtures/dn/names.pem).
///
/// Compact for the .wasm: each group is the DER content octets of an OID without its last arc, then (last arc, short
/// name) pairs; every last arc is below 128, so it is one octet (X.690 section 8.19.2).
#[rustfmt::skip]
const SHORT_NAMES: &[NameGroup] = &[
    // 2.5.4: X.520 (ITU-T X.520, RFC 4519)
    (&[0x55, 0x04], &[
        (3, "CN"), (4, "SN"), (5, "serialNumber"), (6, "C"), (7, "L"), (8, "ST"), (9, "street"), (10, "O"),
        (11, "OU"), (12, "title"), (13, "description"), (14, "searchGuide"), (15, "businessCategory"),
        (16, "postalAddress"), (17, "postalCode"), (18, "postOfficeBox"), (19, "physicalDeliveryOfficeName"),
        (20, "telephoneNumber"), (21, "telexNumber"), (22, "teletexTerminalIdentifier"),
        (23, "facsimileTelephoneNumber"), (24, "x121Address"), (25, "internationaliSDNNumber"),
        (26, "registeredAddress"), (27, "destinationIndicator"), (28, "preferredDeliveryMethod"),
        (29, "presentationAddress"), (30, "supportedApplicationContext"), (31, "member"), (32, "owner"),
        (33, "roleOccupant"), (34, "seeAlso"), (35, "userPassword"), (36, "userCertificate"), (37, "cACertificate"),
        (38, "authorityRevocationList"), (39, "certificateRevocationList"), (40, "crossCertificatePair"),
        (41, "name"), (42, "GN"), (43, "initials"), (44, "generationQualifier"), (45, "x500UniqueIdentifier"),
        (46, "dnQualifier"), (47, "enhancedSearchGuide"), (48, "protocolInformation"), (49, "distinguishedName"),
        (50, "uniqueMember"), (51, "houseIdentifier"), (52, "supportedAlgorithms"), (53, "deltaRevocationList"),
        (54, "dmdName"), (65, "pseudonym"), (72, "role"), (97, "organizationIdentifier"), (98, "c3"), (99, "n3"),
        (100, "dnsName"),
    ]),
    // 0.9.2342.19200300.100.1: COSINE pilot attributes (RFC 4524; UID and DC: RFC 4519)
    (&[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01], &[
        (1, "UID"), (2, "textEncodedORAddress"), (3, "mail"), (4, "info"), (5, "favouriteDrink"), (6, "roomNumber"),
        (7, "photo"), (8, "userClass"), (9, "host"), (10, "manager"), (11, "documentIdentifier"),
        (12, "documentTitle"), (13, "documentVersion"), (14, "documentAuthor"), (15, "documentLocation"),
        (20, "homeTelephoneNumber"), (21, "secretary"), (22, "otherMailbox"), (23, "lastModifiedTime"),
        (24, "lastModifiedBy"), (25, "DC"), (26, "aRecord"), (27, "pilotAttributeType27"), (28, "mXRecord"),
        (29, "nSRecord"), (30, "sOARecord"), (31, "cNAMERecord"), (37, "associatedDomain"), (38, "associatedName"),
        (39, "homePostalAddress"), (40, "personalTitle"), (41, "mobileTelephoneNumber"), (42, "pagerTelephoneNumber"),
        (43, "friendlyCountryName"), (44, "uid"), (45, "organizationalStatus"), (46, "janetMailbox"),
        (47, "mailPreferenceOption"), (48, "buildingName"), (49, "dSAQuality"), (50, "singleLevelQuality"),
        (51, "subtreeMinimumQuality"), (52, "subtreeMaximumQuality"), (53, "personalSignature"), (54, "dITRedirect"),
        (55, "audio"), (56, "documentPublisher"),
    ]),
    // 1.2.840.113549.1.9: PKCS #9 (RFC 2985)
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09], &[
        (1, "emailAddress"), (2, "unstructuredName"), (3, "contentType"), (4, "messageDigest"), (5, "signingTime"),
        (6, "countersignature"), (7, "challengePassword"), (8, "unstructuredAddress"),
        (9, "extendedCertificateAttributes"), (14, "extReq"), (15, "SMIME-CAPS"), (20, "friendlyName"),
        (21, "localKeyID"),
    ]),
    // 1.3.6.1.4.1.311.60.2.1: EV jurisdiction of incorporation (CA/Browser Forum EV Guidelines 9.2.4)
    (&[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3C, 0x02, 0x01], &[
        (1, "jurisdictionL"), (2, "jurisdictionST"), (3, "jurisdictionC"),
    ]),
    // 1.3.6.1.4.1.311.20.2: Microsoft's user principal name
    (&[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02], &[
        (3, "msUPN"),
    ]),
    // 1.3.6.1.5.5.7.9: RFC 3739 personal data
    (&[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x09], &[
        (1, "id-pda-dateOfBirth"), (2, "id-pda-placeOfBirth"), (3, "id-pda-gender"),
        (4, "id-pda-countryOfCitizenship"), (5, "id-pda-countryOfResidence"),
    ]),
    // 1.2.643.3.131.1 and 1.2.643.100: Russian qualified-certificate identifiers
    (&[0x2A, 0x85, 0x03, 0x03, 0x81, 0x03, 0x01], &[
        (1, "INN"),
    ]),
    (&[0x2A, 0x85, 0x03, 0x64], &[
        (1, "OGRN"), (3, "SNILS"), (5, "OGRNIP"),
    ]),
];

/// The longest OID text OpenSSL prints: `OBJ_obj2txt` into an 80-byte buffer keeps 79 characters.
const MAX_OID_TEXT: usize = 79;

fn short_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    let (last, prefix) = oid.as_bytes().split_last()?;
    let (_, names) = SHORT_NAMES.iter().find(|(known, _)| *known == prefix)?;
    names.iter().find(|(arc, _)| arc == last).map(|(_, sn)| *sn)
}

/// The attribute type as OpenSSL names it: short name, or dotted OID cut to OpenSSL's buffer.
fn type_name(oid: &ObjectIdentifier) -> String {
    match short_name(oid) {
        Some(sn) => sn.to_owned(),
        None => {
            let mut dotted = oid.to_string();
            // Dotted OIDs are ASCII, so any byte index is a character boundary.
            dotted.truncate(MAX_OID_TEXT);
            dotted
        }
    }
}

/// Every (OID, short name) of the table, in table order.
fn known_types() -> impl Iterator<Item = (ObjectIdentifier, &'static str)> {
    SHORT_NAMES.iter().flat_map(|(prefix, names)| {
        names.iter().filter_map(move |(arc, sn)| {
            let der = [prefix, core::slice::from_ref(arc)].concat();
            ObjectIdentifier::from_bytes(&der).ok().map(|oid| (oid, *sn))
        })
    })
}

/// Every attribute type with a short name (for the configuration's JSON Schema and the golden tests).
#[cfg(any(test, feature = "test-support"))]
pub fn attribute_types() -> impl Iterator<Item = (ObjectIdentifier, &'static str)> {
    known_types()
}

/// Attribute type from a configuration string: an OpenSSL short name (case-sensitive, as `OBJ_sn2nid`) or a dotted
/// OID such as `0.9.2342.19200300.100.1.1`.
pub fn attribute_oid(short_or_dotted: &str) -> Option<ObjectIdentifier> {
    if let Some((oid, _)) = known_types().find(|(_, sn)| *sn == short_or_dotted) {
        return Some(oid);
    }
    if short_or_dotted.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return ObjectIdentifier::new(short_or_dotted).ok();
    }
    None
}

/// Every attribute with the index of its RDN, in DER order.
fn entries(name: &Name) -> Vec<(usize, &AttributeTypeAndValue)> {
    name.iter_rdn().enumerate().flat_map(|(set, rdn)| rdn.iter().map(move |atv| (set, atv))).collect()
}

/// The value as Unicode text, or `None` when it is not a string type or not valid for its type (a_strex.c
/// `tag2nbyte` decides which types are strings and their character width).
fn text(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String => core::str::from_utf8(bytes).ok().map(str::to_owned),
        // One byte per character; bytes >= 0x80 (invalid in most of these types) are Latin-1, as in OpenSSL.
        Tag::NumericString
        | Tag::PrintableString
        | Tag::TeletexString
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::UtcTime
        | Tag::GeneralizedTime => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        // UCS-2, big-endian: an odd length or a surrogate makes OpenSSL reject the name.
        Tag::BmpString => {
            if bytes.len() % 2 != 0 {
                return None;
            }
            bytes
                .chunks_exact(2)
                .map(|pair| match pair {
                    [high, low] => char::from_u32(u32::from(u16::from_be_bytes([*high, *low]))),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

/// Escapes text as a_strex.c `do_esc_char` does with `ASN1_STRFLGS_ESC_CTRL`, `ESC_MSB` when `esc_msb`, and
/// `ESC_2253` when `esc_2253` (RFC 4514 section 2.4: `"+,;<>\` anywhere, `#` first, space first or last). Without
/// `esc_2253` (a lone attribute value), every space of a leading or trailing run of spaces and tabs is `\20`: RFC 9110
/// section 5.5 has recipients strip a field value's edge whitespace, so `" admin "` would arrive as `admin`.
fn push_escaped(out: &mut String, text: &str, esc_2253: bool, esc_msb: bool) {
    let count = text.chars().count();
    let edge_ws = |c: &char| matches!(c, ' ' | '\t');
    let leading = text.chars().take_while(edge_ws).count();
    let trailing_from = count - text.chars().rev().take_while(edge_ws).count();
    for (i, c) in text.chars().enumerate() {
        // OpenSSL marks the last character instead of the first when they are the same one.
        let last = i + 1 == count;
        let first = i == 0 && !last;
        if c == ' ' && !esc_2253 && (i < leading || i >= trailing_from) {
            out.push_str("\\20");
            continue;
        }
        if !c.is_ascii() {
            if esc_msb {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    out.push('\\');
                    push_hex_upper(out, b);
                }
            } else {
                out.push(c);
            }
            continue;
        }
        let special = match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => true,
            '#' => first,
            ' ' => first || last,
            _ => false,
        };
        if (esc_2253 && special) || c == '\\' {
            out.push('\\');
            out.push(c);
        } else if c.is_ascii_control() {
            out.push('\\');
            // `c` is ASCII: its code fits in one byte.
            push_hex_upper(out, c as u8);
        } else {
            out.push(c);
        }
    }
}

/// The DER encoding OpenSSL re-creates from its parsed value: a BIT STRING's unused bits are cleared on parsing.
fn reencoded_der(value: &Any) -> Option<Vec<u8>> {
    if value.tag() == Tag::BitString {
        if let Some(content) = masked_bit_string(value.value()) {
            return Any::new(Tag::BitString, content).ok()?.to_der().ok();
        }
    }
    value.to_der().ok()
}

/// A BIT STRING's content octets (leading unused-bits count kept) with the unused bits of the last octet cleared.
fn masked_bit_string(content: &[u8]) -> Option<Vec<u8>> {
    let (&unused, bits) = content.split_first()?;
    if unused > 7 || bits.is_empty() {
        return None;
    }
    let mut masked = content.to_vec();
    if let Some(last) = masked.last_mut() {
        *last &= 0xff << unused;
    }
    Some(masked)
}

/// RFC 4514 section 2.4 hex form, `#` and the DER encoding (OpenSSL `ASN1_STRFLGS_DUMP_DER`).
fn push_dump(out: &mut String, value: &Any) {
    out.push('#');
    // Re-encoding a parsed value cannot fail; if it did, the content octets are the best remaining information.
    let der = reencoded_der(value).unwrap_or_else(|| value.value().to_vec());
    for b in der {
        push_hex_upper(out, b);
    }
}

/// `openssl x509 -noout -subject -nameopt RFC2253` (after `subject=`) when `utf8` is false; with `utf8`,
/// `-nameopt RFC2253,-esc_msb`: non-ASCII characters stay raw UTF-8 instead of `\XX` per byte.
pub fn rfc2253(name: &Name, utf8: bool) -> String {
    let mut out = String::new();
    let mut prev_set = None;
    for &(set, atv) in entries(name).iter().rev() {
        if let Some(prev) = prev_set {
            out.push(if prev == set { '+' } else { ',' });
        }
        prev_set = Some(set);
        let short = short_name(&atv.oid);
        out.push_str(&type_name(&atv.oid));
        out.push('=');
        // XN_FLAG_DUMP_UNKNOWN_FIELDS: an unknown attribute type is dumped whatever its value's type.
        match (short, text(&atv.value)) {
            (Some(_), Some(text)) => push_escaped(&mut out, &text, true, !utf8),
            _ => push_dump(&mut out, &atv.value),
        }
    }
    end_space_as_hex(&mut out);
    out
}

/// An RFC 2253 DN ends in a space only as OpenSSL's `\ ` for a last value's trailing space, and RFC 9110 section 5.5
/// has recipients strip it: `\20` instead, the hex pair RFC 4514 section 2.4 allows for any escaped character. For
/// `trusted_issuers` too, so OpenSSL's spelling of such an issuer matches.
pub fn end_space_as_hex(dn: &mut String) {
    if dn.ends_with("\\ ") {
        dn.pop();
        dn.push_str("20");
    }
}

/// The bytes `X509_NAME_oneline` prints for a value: what OpenSSL keeps as the value's data.
fn legacy_bytes(value: &Any) -> Vec<u8> {
    let content = value.value();
    match value.tag() {
        // OpenSSL keeps a SEQUENCE value as its whole encoding.
        Tag::Sequence => value.to_der().unwrap_or_else(|_| content.to_vec()),
        Tag::BitString => match masked_bit_string(content) {
            Some(masked) => masked.get(1..).map(<[u8]>::to_vec).unwrap_or_default(),
            None => content.get(1..).map(<[u8]>::to_vec).unwrap_or_default(),
        },
        // x509_obj.c prints a GeneralString that looks like UCS-4 (every non-zero byte at offset 3 mod 4) as its
        // low bytes only.
        Tag::GeneralString if content.len() % 4 == 0 => {
            let wide = content.iter().enumerate().all(|(i, &b)| b == 0 || i % 4 == 3);
            if wide {
                content.iter().skip(3).step_by(4).copied().collect()
            } else {
                content.to_vec()
            }
        }
        _ => content.to_vec(),
    }
}

/// OpenSSL `X509_NAME_oneline`: `/C=JP/O=Example/CN=alice` (nginx `$ssl_client_s_dn_legacy`, Cloudflare
/// `certSubjectDNLegacy`). Empty for an empty name.
pub fn legacy(name: &Name) -> String {
    let mut out = String::new();
    let mut prev_set = None;
    for (set, atv) in entries(name) {
        out.push(if prev_set == Some(set) { '+' } else { '/' });
        prev_set = Some(set);
        out.push_str(&type_name(&atv.oid));
        out.push('=');
        for b in legacy_bytes(&atv.value) {
            if !(b' '..=b'~').contains(&b) {
                out.push_str("\\x");
                push_hex_upper(&mut out, b);
            } else {
                if b == b'/' || b == b'+' {
                    out.push('\\');
                }
                out.push(char::from(b));
            }
        }
    }
    // X509_NAME_oneline leaves a trailing space as it is, and RFC 9110 section 5.5 has recipients strip it: the last
    // one goes out in this form's escape for other bytes. (The form starts with `/`, and a tab is `\x09` already.)
    if out.ends_with(' ') {
        out.pop();
        out.push_str("\\x20");
    }
    out
}

/// Every value of the attributes with `oid`, in DER order, as Unicode text (a value that is not a string is left
/// out): for renderers that escape in their own format (`formats`).
pub fn texts(name: &Name, oid: &ObjectIdentifier) -> Vec<String> {
    name.iter().filter(|atv| atv.oid == *oid).filter_map(|atv| text(&atv.value)).collect()
}

/// The attribute with `oid` at `index` (0: the first) in DER order, as header text: decoded to Unicode, `\` as `\\`, control characters
/// as `\XX`, spaces at either edge as `\20` (RFC 9110 section 5.5), and (unless `utf8`) every byte of a non-ASCII
/// character as `\XX` (`山` is `\E5\B1\B1`). No RFC 4514 escaping: a comma stays a comma. `None` when the name has
/// no such attribute or its value is not a valid string.
pub fn attribute(name: &Name, oid: &ObjectIdentifier, index: usize, utf8: bool) -> Option<String> {
    let atv = name.iter().filter(|atv| atv.oid == *oid).nth(index)?;
    let text = text(&atv.value)?;
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, &text, false, !utf8);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::der::Decode;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n @ 0..=0x7f => out.push(n as u8),
            n @ 0x80..=0xff => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    fn atv(oid: &str, value: Vec<u8>) -> Vec<u8> {
        let oid = ObjectIdentifier::new(oid).unwrap();
        tlv(0x30, &[tlv(0x06, oid.as_bytes()), value].concat())
    }

    /// A Name from RDNs of (dotted OID, value TLV); members are written in the order given.
    fn name(rdns: &[&[(&str, Vec<u8>)]]) -> Name {
        let rdns: Vec<u8> = rdns
            .iter()
            .flat_map(|rdn| tlv(0x31, &rdn.iter().flat_map(|(oid, value)| atv(oid, value.clone())).collect::<Vec<_>>()))
            .collect();
        Name::from_der(&tlv(0x30, &rdns)).unwrap()
    }

    fn utf8(s: &str) -> Vec<u8> {
        tlv(0x0c, s.as_bytes())
    }

    const CN: &str = "2.5.4.3";
    const OU: &str = "2.5.4.11";

    #[test]
    fn attribute_oid_takes_openssl_short_names_and_dotted_oids() {
        let oid = |s| attribute_oid(s).map(|o| o.to_string());
        assert_eq!(oid("CN").as_deref(), Some("2.5.4.3"));
        assert_eq!(oid("UID").as_deref(), Some("0.9.2342.19200300.100.1.1"));
        assert_eq!(oid("uid").as_deref(), Some("0.9.2342.19200300.100.1.44"));
        assert_eq!(oid("SN").as_deref(), Some("2.5.4.4"));
        assert_eq!(oid("serialNumber").as_deref(), Some("2.5.4.5"));
        assert_eq!(oid("emailAddress").as_deref(), Some("1.2.840.113549.1.9.1"));
        assert_eq!(oid("DC").as_deref(), Some("0.9.2342.19200300.100.1.25"));
        assert_eq!(oid("street").as_deref(), Some("2.5.4.9"));
        assert_eq!(oid("jurisdictionC").as_deref(), Some("1.3.6.1.4.1.311.60.2.1.3"));
        assert_eq!(oid("organizationIdentifier").as_deref(), Some("2.5.4.97"));
        assert_eq!(oid("msUPN").as_deref(), Some("1.3.6.1.4.1.311.20.2.3"));
        assert_eq!(oid("friendlyName").as_deref(), Some("1.2.840.113549.1.9.20"));
        assert_eq!(oid("x500UniqueIdentifier").as_deref(), Some("2.5.4.45"));
        assert_eq!(oid("1.2.3.4").as_deref(), Some("1.2.3.4"));
        for bad in ["", "cn", "Cn", "commonName", "CN ", "1..2", "1.2.", ".1.2", "1", "1.2.x", "-1.2", "9.1.2"] {
            assert_eq!(oid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_short_name_round_trips() {
        let entries: usize = SHORT_NAMES.iter().map(|(_, names)| names.len()).sum();
        assert_eq!(known_types().count(), entries, "every table entry is a valid OID");
        for (oid, sn) in known_types() {
            assert_eq!(attribute_oid(sn), Some(oid), "{sn}");
            assert_eq!(short_name(&oid), Some(sn));
        }
    }

    #[test]
    fn attribute_escapes_for_headers_but_not_for_rfc4514() {
        let n = name(&[&[(CN, utf8("山田, Taro\\\"+;<>#"))], &[(OU, utf8(" a\tb\r\n\u{7f}\0 "))]]);
        let cn = attribute_oid("CN").unwrap();
        let ou = attribute_oid("OU").unwrap();
        assert_eq!(attribute(&n, &cn, 0, false).unwrap(), "\\E5\\B1\\B1\\E7\\94\\B0, Taro\\\\\"+;<>#");
        assert_eq!(attribute(&n, &cn, 0, true).unwrap(), "山田, Taro\\\\\"+;<>#");
        assert_eq!(attribute(&n, &ou, 0, true).unwrap(), "\\20a\\09b\\0D\\0A\\7F\\00\\20");
        assert_eq!(attribute(&n, &attribute_oid("UID").unwrap(), 0, true), None);
    }

    #[test]
    fn attribute_index_counts_in_der_order() {
        let n = name(&[&[(OU, utf8("first"))], &[(CN, utf8("c"))], &[(OU, utf8("second"))]]);
        let ou = attribute_oid("OU").unwrap();
        assert_eq!(attribute(&n, &ou, 0, false).as_deref(), Some("first"));
        assert_eq!(attribute(&n, &ou, 1, false).as_deref(), Some("second"));
        assert_eq!(attribute(&n, &ou, 2, false), None);
        assert_eq!(rfc2253(&n, false), "OU=second,CN=c,OU=first");
    }

    #[test]
    fn attribute_decodes_every_string_type() {
        let cn = attribute_oid("CN").unwrap();
        let one = |tag: u8, content: &[u8], utf8: bool| attribute(&name(&[&[(CN, tlv(tag, content))]]), &cn, 0, utf8);
        assert_eq!(one(0x13, b"Printable", false).as_deref(), Some("Printable"));
        assert_eq!(one(0x16, b"ia5@x", false).as_deref(), Some("ia5@x"));
        assert_eq!(one(0x12, b"12 34", false).as_deref(), Some("12 34"));
        assert_eq!(one(0x1a, b"visible", false).as_deref(), Some("visible"));
        // TeletexString as Latin-1, as OpenSSL reads it.
        assert_eq!(one(0x14, b"Jos\xe9", true).as_deref(), Some("José"));
        assert_eq!(one(0x14, b"Jos\xe9", false).as_deref(), Some("Jos\\C3\\A9"));
        assert_eq!(one(0x1e, &[0x5c, 0x71, 0x00, 0x41], true).as_deref(), Some("山A"));
        assert_eq!(one(0x1e, &[0x5c, 0x71, 0x00, 0x41], false).as_deref(), Some("\\E5\\B1\\B1A"));
        assert_eq!(one(0x0c, b"", false).as_deref(), Some(""));
        // Not strings, or invalid for their type.
        assert_eq!(one(0x0c, b"a\xffb", true), None);
        assert_eq!(one(0x1e, &[0x00, 0x41, 0x00], true), None);
        assert_eq!(one(0x1e, &[0xd8, 0x3d, 0xde, 0x00], true), None);
        assert_eq!(one(0x1b, b"general", true), None);
        assert_eq!(one(0x02, &[0x05], true), None);
        assert_eq!(one(0x04, b"octets", true), None);
        assert_eq!(attribute(&name(&[&[(CN, tlv(0x30, &utf8("x")))]]), &cn, 0, true), None);
    }

    #[test]
    fn empty_name() {
        let n = Name::from_der(&[0x30, 0x00]).unwrap();
        assert_eq!(rfc2253(&n, false), "");
        assert_eq!(rfc2253(&n, true), "");
        assert_eq!(legacy(&n), "");
        assert_eq!(attribute(&n, &attribute_oid("CN").unwrap(), 0, false), None);
    }

    #[test]
    fn values_openssl_cannot_load_are_dumped_in_rfc2253() {
        // OpenSSL refuses these certificates; here the value is not a valid string, so it prints as #DER.
        let n = name(&[&[(CN, tlv(0x0c, b"a\xffb"))], &[(OU, tlv(0x1e, &[0xd8, 0x00]))], &[(CN, tlv(0x1b, b"g"))]]);
        assert_eq!(rfc2253(&n, false), "CN=#1B0167,OU=#1E02D800,CN=#0C0361FF62");
        assert_eq!(rfc2253(&n, true), "CN=#1B0167,OU=#1E02D800,CN=#0C0361FF62");
        assert_eq!(legacy(&n), "/CN=a\\xFFb/OU=\\xD8\\x00/CN=g");
        // The one-byte types OpenSSL refuses in names still read as Latin-1 text.
        let n = name(&[&[(CN, tlv(0x1a, b"vis,ible"))]]);
        assert_eq!(rfc2253(&n, false), "CN=vis\\,ible");
    }

    #[test]
    fn legacy_prints_ucs4_like_general_string_as_its_low_bytes() {
        let n = name(&[&[(CN, tlv(0x1b, b"\0\0\0a\0\0\0b"))], &[(OU, tlv(0x1b, b"\0\x01\0a"))]]);
        assert_eq!(legacy(&n), "/CN=ab/OU=\\x00\\x01\\x00a");
    }

    #[test]
    fn attribute_escapes_every_edge_space() {
        let cn = attribute_oid("CN").unwrap();
        let one = |value: &str| attribute(&name(&[&[(CN, utf8(value))]]), &cn, 0, false).unwrap();
        assert_eq!(one(" admin "), "\\20admin\\20");
        assert_eq!(one("  a b  "), "\\20\\20a b\\20\\20");
        assert_eq!(one(" \t x\t "), "\\20\\09\\20x\\09\\20");
        assert_eq!(one("   "), "\\20\\20\\20");
        assert_eq!(one("\tadmin"), "\\09admin");
        assert_eq!(one("a  b"), "a  b");
        assert_eq!(one(""), "");
    }

    #[test]
    fn dn_forms_never_end_in_a_space() {
        // DER order: O first, so RFC 2253 ends with it and the legacy form with the CN.
        let n = name(&[&[(OU, utf8("Example "))], &[(CN, utf8(" admin "))]]);
        assert_eq!(rfc2253(&n, false), "CN=\\ admin\\ ,OU=Example\\20");
        assert_eq!(rfc2253(&n, true), "CN=\\ admin\\ ,OU=Example\\20");
        assert_eq!(legacy(&n), "/OU=Example /CN= admin\\x20");
        let n = name(&[&[(CN, utf8("  "))], &[(OU, utf8("\t"))]]);
        assert_eq!(rfc2253(&n, false), "OU=\\09,CN=\\ \\20");
        assert_eq!(legacy(&n), "/CN=  /OU=\\x09");
    }

    #[test]
    fn end_space_as_hex_rewrites_only_an_escaped_last_space() {
        for (dn, want) in
            [("O=a\\ ", "O=a\\20"), ("O=\\ \\ ", "O=\\ \\20"), ("O=a\\20", "O=a\\20"), ("O=a\\ b", "O=a\\ b")]
        {
            let mut dn = dn.to_string();
            end_space_as_hex(&mut dn);
            assert_eq!(dn, want);
        }
    }

    #[test]
    fn rfc2253_first_and_last_character_rules() {
        let n = name(&[&[(CN, utf8("#"))], &[(CN, utf8(" "))], &[(CN, utf8("##"))], &[(CN, utf8("  "))]]);
        assert_eq!(rfc2253(&n, false), "CN=\\ \\ ,CN=\\##,CN=\\ ,CN=#");
    }

    #[test]
    fn multi_valued_rdn_members_come_out_der_sorted() {
        // x509-cert sorts a SET OF on decoding, so an RDN encoded unsorted (not DER) prints as if it were sorted;
        // OpenSSL would keep the encoded order. DER-encoded certificates are unaffected.
        let uid = "0.9.2342.19200300.100.1.1";
        let unsorted = name(&[&[(CN, utf8("zzzzzzzzzzzzzz")), (uid, utf8("a"))]]);
        let sorted = name(&[&[(uid, utf8("a")), (CN, utf8("zzzzzzzzzzzzzz"))]]);
        assert_eq!(rfc2253(&sorted, false), "CN=zzzzzzzzzzzzzz+UID=a");
        assert_eq!(legacy(&sorted), "/UID=a+CN=zzzzzzzzzzzzzz");
        assert_eq!(rfc2253(&unsorted, false), rfc2253(&sorted, false));
    }

    #[test]
    fn no_panic_on_any_value() {
        let tags = [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1a, 0x1b, 0x1e,
            0x30, 0x31, 0x80, 0xa0,
        ];
        let contents: Vec<Vec<u8>> = (0..=255u8)
            .map(|b| vec![b])
            .chain([vec![], vec![0xff; 300], vec![0x00, 0xd8, 0x00, 0xdc], vec![0x08], vec![0x07, 0x00], vec![0x00; 4]])
            .chain((0..=255u8).map(|b| vec![b, b.wrapping_mul(7), 0x80, b]))
            .collect();
        let oids = [CN, "1.2.3.4", "1.3.6.1.4.1.55555.100.101.102.103.104.105.106.107.108.109.110.111.112.113.114.115"];
        for tag in tags {
            for content in &contents {
                for oid in oids {
                    let Ok(n) = Name::from_der(&tlv(0x30, &tlv(0x31, &atv(oid, tlv(tag, content))))) else {
                        continue;
                    };
                    // RFC 9110 section 5.5: nothing a recipient would trim.
                    let no_edge_ws = |t: &str| !t.starts_with([' ', '\t']) && !t.ends_with([' ', '\t']);
                    for dn in [rfc2253(&n, false), rfc2253(&n, true), legacy(&n)] {
                        assert!(no_edge_ws(&dn), "{dn:?}");
                    }
                    for utf8 in [false, true] {
                        if let Some(text) = attribute(&n, &ObjectIdentifier::new(oid).unwrap(), 0, utf8) {
                            assert!(!text.bytes().any(|b| b < 0x20 || b == 0x7f), "{text:?}");
                            assert!(utf8 || text.is_ascii(), "{text:?}");
                            assert!(no_edge_ws(&text), "{text:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn long_unknown_oid_is_cut_like_openssl() {
        let long = "1.3.6.1.4.1.55555.100.101.102.103.104.105.106.107.108.109.110.111.112.113.114.115";
        let n = name(&[&[(long, utf8("v"))]]);
        let cut = &long[..MAX_OID_TEXT];
        assert_eq!(rfc2253(&n, false), format!("{cut}=#0C0176"));
        assert_eq!(legacy(&n), format!("/{cut}=v"));
    }
}

//! Certificate DER (mutated from the fixture certificates) through `ClientCert::from_der` and every field formatter:
//! no value a header would carry has a control character or edge whitespace (RFC 9110 section 5.5: every HTTP parser
//! strips it, so ` admin ` would reach the application as `admin`), and none but the raw-UTF-8 forms leaves ASCII.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_headers_core::cert::{self, dn, ClientCert};
use mtls_headers_core::config::Field;
use mtls_headers_core::output::identity_value;
use mtls_headers_core::registry;

fuzz_target!(|data: &[u8]| {
    // PEM inputs exercise the PEM reader too; everything else is DER.
    let parsed = if data.starts_with(b"-----BEGIN") { ClientCert::from_pem(data) } else { ClientCert::from_der(data) };
    let Ok(c) = parsed else { return };

    // What the filter derives from the DER stays the DER: PEM, base64 and the PEM's URL encoding round-trip.
    assert_eq!(ClientCert::from_pem(c.pem().as_bytes()).map(|p| p.der).as_deref(), Ok(c.der.as_slice()));
    let pem_url = identity_value(&Field::CertPemUrlencoded, &c, None, false).unwrap();
    assert_eq!(cert::url_decode(pem_url.as_bytes()).as_deref(), Some(c.pem().as_bytes()));

    // Every field the configuration can name that a certificate fills.
    let mut fields: Vec<Field> = registry::SIMPLE_FIELDS.iter().map(|(_, f)| f.clone()).collect();
    // Every attribute type the configuration can name, and every type this certificate's names hold.
    for oid in dn::attribute_types().map(|(oid, _)| oid).chain(c.subject.iter().map(|atv| atv.oid)) {
        fields.extend((0..3).flat_map(|i| [Field::SubjectAttr(oid, i), Field::IssuerAttr(oid, i)]));
    }
    for oid in c.issuer.iter().map(|atv| atv.oid) {
        fields.extend((0..3).flat_map(|i| [Field::SubjectAttr(oid, i), Field::IssuerAttr(oid, i)]));
    }
    for utf8 in [false, true] {
        for field in &fields {
            if let Some(value) = identity_value(field, &c, None, utf8) {
                check(field, utf8, &value);
            }
        }
    }
});

fn check(field: &Field, utf8: bool, value: &str) {
    let bytes = value.as_bytes();
    assert!(!bytes.iter().any(|&b| b < 0x20 || b == 0x7f), "{field:?} (utf8 {utf8}): control character in {value:?}");
    for edge in [bytes.first(), bytes.last()] {
        assert!(!matches!(edge, Some(b' ' | b'\t')), "{field:?} (utf8 {utf8}): edge whitespace in {value:?}");
    }
    assert!(utf8 || value.is_ascii(), "{field:?}: non-ASCII without utf8: {value:?}");
}

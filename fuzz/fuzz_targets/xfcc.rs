//! Envoy's `x-forwarded-client-cert` as a client could forge it: the `Cert=` reader never panics, and what it
//! accepts is exactly one quoted, URL-decodable `Cert=` field of a single element.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_headers::xfcc::single_cert;
use mtls_headers_core::cert::url_decode;

fuzz_target!(|data: &[u8]| {
    let Ok(pem) = single_cert(data) else { return };
    // A reference split: `;` and `,` outside double quotes, `\` escaping inside them.
    let (mut fields, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, &b) in data.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if !quoted && b == b',' {
            panic!("accepted a second element");
        } else if !quoted && b == b';' {
            fields.push(&data[start..i]);
            start = i + 1;
        }
    }
    assert!(!quoted, "accepted an unterminated quote");
    fields.push(&data[start..]);
    let certs: Vec<&[u8]> =
        fields.iter().filter(|f| f.len() >= 5 && f[..5].eq_ignore_ascii_case(b"Cert=")).map(|f| &f[5..]).collect();
    let [cert] = certs.as_slice() else { panic!("accepted {} Cert= fields", certs.len()) };
    assert!(fields.iter().all(|f| f.contains(&b'=')), "accepted a field without `=`");
    let inner = cert.strip_prefix(b"\"").and_then(|c| c.strip_suffix(b"\"")).expect("accepted an unquoted Cert=");
    assert_eq!(url_decode(inner).as_deref(), Some(pem.as_slice()));
});

//! Envoy's `x-forwarded-client-cert` as a client could forge it: the reader never panics, and what it accepts is a
//! single element with at most one quoted `Cert=` and one quoted `Chain=`, each exactly as that field holds it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_headers::xfcc::element;

fuzz_target!(|data: &[u8]| {
    let Ok(element) = element(data) else { return };
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
    assert!(fields.iter().all(|f| f.contains(&b'=')), "accepted a field without `=`");
    for (key, got) in [(b"Cert=".as_slice(), element.cert), (b"Chain=".as_slice(), element.chain)] {
        let found: Vec<&[u8]> = fields
            .iter()
            .filter(|f| f.len() >= key.len() && f[..key.len()].eq_ignore_ascii_case(key))
            .map(|f| &f[key.len()..])
            .collect();
        match (found.as_slice(), got) {
            ([], None) => {}
            ([raw], Some(inner)) => {
                let unquoted = raw.strip_prefix(b"\"").and_then(|c| c.strip_suffix(b"\""));
                assert_eq!(unquoted, Some(inner), "read another value than the field's");
            }
            (found, got) => panic!("{} fields of one key, read {got:?}", found.len()),
        }
    }
});

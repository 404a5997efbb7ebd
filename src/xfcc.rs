//! The one part of Envoy's `x-forwarded-client-cert` we trust: a single quoted, URL-encoded `Cert=` field.
//!
//! Envoy writes `URI=` and `DNS=` unquoted and unescaped (HOSTS.md), so a SAN such as
//! `spiffe://x/a;DNS=injected` adds fields: identity never comes from them, and a second `Cert=` is an attack.

/// Returns the decoded PEM of the only `Cert=` in a single-element XFCC value.
pub fn single_cert(value: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut cert: Option<&[u8]> = None;
    for field in split_fields(value)? {
        let Some(eq) = field.iter().position(|b| *b == b'=') else {
            return Err("field without `=`");
        };
        let (key, rest) = field.split_at(eq);
        let raw = rest.get(1..).unwrap_or(&[]);
        if key.eq_ignore_ascii_case(b"Cert") {
            if cert.is_some() {
                return Err("more than one Cert= field");
            }
            let quoted = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")).ok_or("Cert= is not quoted")?;
            cert = Some(quoted);
        }
    }
    let encoded = cert.ok_or("no Cert= field (set_current_client_cert_details.cert)")?;
    mtls_headers_core::cert::url_decode(encoded).ok_or("Cert= is not URL-encoded")
}

/// Splits on `;` outside quotes; a `,` outside quotes means a second element (another proxy's), which
/// `SANITIZE_SET` never produces.
fn split_fields(value: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' if !quoted => {
                fields.push(value.get(start..i).unwrap_or(&[]));
                start = i + 1;
            }
            b',' if !quoted => return Err("more than one element"),
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    fields.push(value.get(start..).unwrap_or(&[]));
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::single_cert;

    #[test]
    fn takes_the_single_quoted_cert() {
        let v = br#"By=spiffe://a;Hash=ab;Cert="-----BEGIN%20X%0A";Subject="CN=a,O=b";URI=spiffe://x"#;
        assert_eq!(single_cert(v).unwrap(), b"-----BEGIN X\n");
    }

    #[test]
    fn refuses_injection_and_ambiguity() {
        assert!(single_cert(br#"Hash=ab;Cert="a";URI=spiffe://x;Cert="b""#).is_err());
        assert!(single_cert(br#"Cert="a",Cert="b""#).is_err());
        assert!(single_cert(br#"Cert=a"#).is_err());
        assert!(single_cert(br#"Hash=ab"#).is_err());
        assert!(single_cert(br#"Cert="a"#).is_err());
    }
}

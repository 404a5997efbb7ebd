//! The parts of Envoy's `x-forwarded-client-cert` we trust: a single quoted, URL-encoded `Cert=` and `Chain=`.
//!
//! Envoy writes `URI=` and `DNS=` unquoted and unescaped (HOSTS.md), so a SAN such as
//! `spiffe://x/a;DNS=injected` adds fields: identity never comes from them, and a second `Cert=` or `Chain=` is an
//! attack. What either holds is trusted only once it is checked against the connection's digest (`peer.rs`).

/// The `Cert=` and `Chain=` of a single-element XFCC value, still URL-encoded, without their quotes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Element<'v> {
    pub cert: Option<&'v [u8]>,
    pub chain: Option<&'v [u8]>,
}

pub fn element(value: &[u8]) -> Result<Element<'_>, &'static str> {
    let mut out = Element::default();
    for field in split_fields(value)? {
        let Some(eq) = field.iter().position(|b| *b == b'=') else {
            return Err("field without `=`");
        };
        let (key, rest) = field.split_at(eq);
        let raw = rest.get(1..).unwrap_or(&[]);
        let slot = if key.eq_ignore_ascii_case(b"Cert") {
            &mut out.cert
        } else if key.eq_ignore_ascii_case(b"Chain") {
            &mut out.chain
        } else {
            continue;
        };
        if slot.is_some() {
            return Err("a repeated Cert= or Chain= field");
        }
        *slot =
            Some(raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")).ok_or("Cert= or Chain= is not quoted")?);
    }
    Ok(out)
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
    use super::{element, Element};

    #[test]
    fn takes_the_single_quoted_cert_and_chain() {
        let v = br#"By=spiffe://a;Hash=ab;Cert="-----BEGIN%20X%0A";Chain="c";Subject="CN=a,O=b";URI=spiffe://x"#;
        assert_eq!(element(v).unwrap(), Element { cert: Some(b"-----BEGIN%20X%0A"), chain: Some(b"c") });
        assert_eq!(element(br#"Hash=ab;Subject="CN=a""#).unwrap(), Element::default());
    }

    #[test]
    fn refuses_injection_and_ambiguity() {
        assert!(element(br#"Hash=ab;Cert="a";URI=spiffe://x;Cert="b""#).is_err());
        assert!(element(br#"Cert="a";Chain="b";DNS=x;Chain="c""#).is_err());
        assert!(element(br#"Cert="a",Cert="b""#).is_err());
        assert!(element(br#"Cert=a"#).is_err());
        assert!(element(br#"Chain=a"#).is_err());
        assert!(element(br#"Cert="a"#).is_err());
    }
}

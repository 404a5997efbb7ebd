//! Header names and values: ownership matching and what may be sent.

/// Lower case, with `_` read as `-`: WSGI/CGI backends (and nginx with `underscores_in_headers`) map `x_ssl_cn`
/// and `X-SSL-CN` to the same variable, so the filter must own both spellings (SPEC, required behaviour 1).
pub fn normalize_name(name: &str) -> String {
    name.bytes().map(|b| char::from(normalize_byte(b))).collect()
}

/// One byte of `normalize_name`, for comparing in place.
pub fn normalize_byte(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// RFC 9110 section 5.6.2 `token`.
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// No CR, LF, NUL or other control characters (RFC 9110 section 5.5): a value that has one is never sent.
pub fn is_header_safe(value: &[u8]) -> bool {
    value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A client-chosen header name as a log may show it: printable ASCII kept, other bytes as `\xNN`, at most
/// `SHOWN_MAX` bytes of the name, then its length.
pub fn shown(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len().min(SHOWN_MAX) + 16);
    for &b in name.iter().take(SHOWN_MAX) {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if name.len() > SHOWN_MAX {
        out.push_str(&format!("... ({} bytes)", name.len()));
    }
    out
}

const SHOWN_MAX: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_underscores() {
        assert_eq!(normalize_name("X_SSL-Client_CN"), "x-ssl-client-cn");
    }

    #[test]
    fn header_names_are_tokens() {
        assert!(valid_header_name("x-ssl-client-cn"));
        assert!(!valid_header_name("x ssl"));
        assert!(!valid_header_name(":path"));
        assert!(!valid_header_name(""));
    }

    #[test]
    fn shown_names_are_bounded_and_printable() {
        assert_eq!(shown(b"X-SSL-Client-CN"), "X-SSL-Client-CN");
        assert_eq!(shown(b"x-ssl-\xe9\n\\"), "x-ssl-\\xe9\\x0a\\x5c");
        let long = shown(&[b'a'; 5000]);
        assert_eq!(long, format!("{}... (5000 bytes)", "a".repeat(64)));
    }

    #[test]
    fn values_without_control_characters() {
        assert!(is_header_safe(b"CN=a\\, b"));
        assert!(!is_header_safe(b"a\r\nx-ssl-forged: 1"));
        assert!(!is_header_safe(b"a\0"));
        assert!(!is_header_safe(b"a\x7f"));
    }
}

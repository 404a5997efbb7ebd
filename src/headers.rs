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
    fn values_without_control_characters() {
        assert!(is_header_safe(b"CN=a\\, b"));
        assert!(!is_header_safe(b"a\r\nx-ssl-forged: 1"));
        assert!(!is_header_safe(b"a\0"));
        assert!(!is_header_safe(b"a\x7f"));
    }
}

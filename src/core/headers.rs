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

/// The header names a configuration owns (SPEC, required behaviour 1): prefixes and whole names, stored normalized
/// (ASCII, lower case, `_` as `-`). Matched against every request header, in place and without allocating.
#[derive(Clone)]
pub struct Owned {
    prefixes: Vec<String>,
    names: Vec<String>,
    /// Whether some prefix or name starts with this (normalized) byte: most request headers are told apart by
    /// their first byte alone.
    first: [bool; 256],
}

impl Owned {
    /// `prefixes` and `names` normalized ([`normalize_name`]).
    pub fn new(prefixes: Vec<String>, names: Vec<String>) -> Owned {
        let mut first = [false; 256];
        for b in prefixes.iter().chain(&names).filter_map(|s| s.bytes().next()) {
            first[usize::from(b)] = true;
        }
        Owned { prefixes, names, first }
    }

    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Sorted, without duplicates.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// True when the header (any case, `_` read as `-`) belongs to the filter and must not come from the client.
    pub fn owns(&self, name: &[u8]) -> bool {
        let Some(&b) = name.first() else { return false };
        if !self.first[usize::from(normalize_byte(b))] {
            return false;
        }
        let starts = |p: &str| {
            name.len() >= p.len() && name.iter().map(|b| normalize_byte(*b)).zip(p.bytes()).all(|(a, b)| a == b)
        };
        self.prefixes.iter().any(|p| starts(p)) || self.names.iter().any(|n| n.len() == name.len() && starts(n))
    }
}

/// The prefixes and names; `first` follows from them.
impl core::fmt::Debug for Owned {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Owned").field("prefixes", &self.prefixes).field("names", &self.names).finish()
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
    fn owned_names_match_any_case_and_underscores_whole_or_by_prefix() {
        let owned = Owned::new(vec!["x-ssl".into()], vec!["client-cert".into(), "x-b".into()]);
        for yes in [&b"X-SSL"[..], b"x_ssl_client_cn", b"X-Ssl-Other", b"Client_Cert", b"x-b"] {
            assert!(owned.owns(yes), "{}", shown(yes));
        }
        for no in [&b""[..], b"x-ss", b"client-cert-chain", b"x-bb", b"accept", b"\xe9x-ssl", b"-x-ssl"] {
            assert!(!owned.owns(no), "{}", shown(no));
        }
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

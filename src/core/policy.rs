//! Policy on a verified certificate beyond the host's verification (README, "Policy"): SPIFFE trust domains, SAN
//! allow patterns and a minimum remaining validity. A failure is a verdict of `FAILED:<reason>`, as an expired
//! certificate is, and in `required` the configured reply.

use crate::cert::{ip_text, ClientCert};

/// `san_allow`: patterns per SAN type; `*` matches any run of characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SanAllow {
    pub dns: Vec<String>,
    pub uri: Vec<String>,
    pub email: Vec<String>,
    pub ip: Vec<String>,
}

impl SanAllow {
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.uri.is_empty() && self.email.is_empty() && self.ip.is_empty()
    }

    /// As Envoy's `match_typed_subject_alt_names`: one SAN matching one pattern of its type is enough. DNS names
    /// compare ASCII-case-insensitively (RFC 4343); an IP SAN is matched in its `san_ip` text (`192.0.2.*`).
    fn allows(&self, c: &ClientCert) -> bool {
        let any = |patterns: &[String], sans: &[Vec<u8>], fold: bool| {
            sans.iter().any(|san| patterns.iter().any(|p| glob(p.as_bytes(), san, fold)))
        };
        any(&self.dns, &c.sans.dns, true)
            || any(&self.uri, &c.sans.uri, false)
            || any(&self.email, &c.sans.email, false)
            || c.sans.ip.iter().any(|ip| self.ip.iter().any(|p| glob(p.as_bytes(), ip_text(ip).as_bytes(), false)))
    }
}

pub const NOT_AN_SVID: &str = "not an X.509-SVID";
pub const SPIFFE_DOMAIN_NOT_TRUSTED: &str = "SPIFFE trust domain not trusted";
pub const NO_SAN_ALLOWED: &str = "no SAN matches san_allow";
pub const EXPIRES_TOO_SOON: &str = "certificate expires within min_remaining_validity";

/// The parts of the policy that follow from the certificate alone (cached with its identity): the first failure.
pub fn static_failure(trusted_spiffe_domains: &[String], san_allow: &SanAllow, c: &ClientCert) -> Option<&'static str> {
    if !trusted_spiffe_domains.is_empty() {
        // X.509-SVID (SPIFFE X509-SVID spec, section 2): exactly one URI SAN, and it is a SPIFFE ID.
        let [uri] = c.sans.uri.as_slice() else { return Some(NOT_AN_SVID) };
        let Some(domain) = spiffe_trust_domain(uri) else { return Some(NOT_AN_SVID) };
        if !trusted_spiffe_domains.iter().any(|d| d.as_bytes() == domain) {
            return Some(SPIFFE_DOMAIN_NOT_TRUSTED);
        }
    }
    if !san_allow.is_empty() && !san_allow.allows(c) {
        return Some(NO_SAN_ALLOWED);
    }
    None
}

/// A trust domain name as the SPIFFE ID spec (section 2.1) allows it: lower-case letters, digits, `.`, `-`, `_`.
pub fn valid_trust_domain(domain: &[u8]) -> bool {
    !domain.is_empty() && domain.iter().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_'))
}

/// The trust domain of a valid SPIFFE ID (SPIFFE ID spec, section 2: `spiffe://<trust domain>/<path>`, path
/// segments of letters, digits, `.`, `-`, `_`, none empty, `.` or `..`; at most 2048 bytes), else `None`.
pub fn spiffe_trust_domain(id: &[u8]) -> Option<&[u8]> {
    if id.len() > 2048 {
        return None;
    }
    let rest = id.strip_prefix(b"spiffe://")?;
    let (domain, path) = match rest.iter().position(|b| *b == b'/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, &b""[..]),
    };
    if !valid_trust_domain(domain) {
        return None;
    }
    if !path.is_empty() {
        for segment in path.get(1..)?.split(|b| *b == b'/') {
            let chars_ok = segment.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if segment.is_empty() || segment == b"." || segment == b".." || !chars_ok {
                return None;
            }
        }
    }
    Some(domain)
}

/// `*` matches any run of bytes (none included); every other byte itself, ASCII-case-insensitively with `fold`.
fn glob(pattern: &[u8], text: &[u8], fold: bool) -> bool {
    let eq = |a: u8, b: u8| if fold { a.eq_ignore_ascii_case(&b) } else { a == b };
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut p, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            (Some(&pc), Some(&tc)) if eq(pc, tc) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|b| *b == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_ids_as_the_spec_defines_them() {
        let td = |id: &str| spiffe_trust_domain(id.as_bytes()).map(|d| String::from_utf8_lossy(d).into_owned());
        assert_eq!(td("spiffe://example.org/ns/prod/sa/carol").as_deref(), Some("example.org"));
        assert_eq!(td("spiffe://example.org").as_deref(), Some("example.org"));
        for bad in [
            "spiffe://Example.org/x",
            "spiffe://example.org/",
            "spiffe://example.org//x",
            "spiffe://example.org/./x",
            "spiffe://example.org/a/..",
            "spiffe://example.org/a b",
            "spiffe://example.org:8080/x",
            "spiffe://user@example.org/x",
            "spiffe://example.org/x?q",
            "spiffe:///x",
            "https://example.org/x",
        ] {
            assert_eq!(td(bad), None, "{bad}");
        }
    }

    #[test]
    fn glob_matches_runs_and_folds_case_when_asked() {
        assert!(glob(b"*.example.com", b"alice.example.com", true));
        assert!(glob(b"*.EXAMPLE.com", b"alice.example.com", true));
        assert!(!glob(b"*.EXAMPLE.com", b"alice.example.com", false));
        assert!(!glob(b"*.example.com", b"example.com", true));
        assert!(glob(b"spiffe://example.org/ns/*/sa/*", b"spiffe://example.org/ns/prod/sa/carol", false));
        assert!(glob(b"*", b"", false) && glob(b"a*b*c", b"aXbYc", false) && !glob(b"a*b*c", b"aXbY", false));
        assert!(glob(b"192.0.2.*", b"192.0.2.10", false) && !glob(b"192.0.2.*", b"192.0.20.1", false));
        assert!(glob(&[b'*'; 64], &[b'a'; 4096], false), "no exponential backtracking");
    }
}

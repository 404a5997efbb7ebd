//! RFC 9421 HTTP Message Signatures over the identity the filter injects, so an application any number of hops
//! behind it can check that its identity headers came from this filter (README, "Signed identity").
//!
//! One signature, `hmac-sha256` (RFC 9421 section 3.3.3), over `@method`, `@authority`, `@path` (section 2.2) and
//! every header the filter set on the request; the key comes from the VM's environment only.

use std::rc::Rc;

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

use crate::decision::SetHeader;

/// `sign` in the configuration, validated. Holds the key only as HMAC's padded-key states; `Debug` shows neither.
#[derive(Clone)]
pub struct Signing {
    /// RFC 9421 section 4.1: the signature's label in `Signature-Input` and `Signature` (an RFC 8941 key).
    pub label: String,
    /// The `keyid` parameter (an RFC 8941 string without `"` or `\`).
    pub keyid: String,
    /// HMAC's key (RFC 2104) as the hash states after its inner and outer padded blocks: a request hashes only its
    /// own bytes.
    inner: Sha256,
    outer: Sha256,
    /// The two header names, made once: every signed request sets both.
    names: [Rc<str>; 2],
}

/// The two headers a signature adds; both are owned (stripped from clients) when signing is on.
pub const SIGNATURE_INPUT: &str = "signature-input";
pub const SIGNATURE: &str = "signature";

/// The `tag` parameter (RFC 9421 section 2.3), by which a verifier picks this filter's signature among others.
pub const TAG: &str = "mtls-headers";

/// SHA-256's block size (RFC 2104's `B`).
const BLOCK: usize = 64;

impl Signing {
    pub fn new(label: String, keyid: String, key: &[u8]) -> Signing {
        // RFC 2104 section 2: a key longer than the block is hashed first; then zero-padded to the block.
        let hashed;
        let key = if key.len() > BLOCK {
            hashed = Sha256::digest(key);
            hashed.as_slice()
        } else {
            key
        };
        let mut block = [0u8; BLOCK];
        block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
        let pad = |byte: u8| {
            let mut h = Sha256::new();
            h.update(block.map(|b| b ^ byte));
            h
        };
        let names = [SIGNATURE_INPUT.into(), SIGNATURE.into()];
        Signing { label, keyid, inner: pad(0x36), outer: pad(0x5c), names }
    }

    /// HMAC-SHA256 of `message` (RFC 2104).
    #[cfg(test)]
    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(message);
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    /// The part of a signature that depends on the headers set only (section 2.5: their lines come first in the
    /// signature base): computed once per verified identity and cached with it.
    pub fn prefix(&self, set: &[SetHeader]) -> Prefix {
        // `Signature-Input`'s value around `created`: `<label>=(<components>);created=` and the parameters after it.
        let mut input_head = String::with_capacity(set.len() * 24 + self.label.len() + 48);
        input_head.push_str(&self.label);
        input_head.push_str("=(");
        let mut state = self.inner.clone();
        for h in set {
            input_head.push('"');
            input_head.push_str(&h.name);
            input_head.push_str("\" ");
            for part in ["\"", &*h.name, "\": ", &*h.value, "\n"] {
                state.update(part.as_bytes());
            }
        }
        input_head.push_str("\"@method\" \"@authority\" \"@path\");created=");
        let input_tail = format!(";keyid=\"{}\";alg=\"hmac-sha256\";tag=\"{TAG}\"", self.keyid);
        Prefix { input_head: input_head.into(), input_tail: input_tail.into(), state }
    }

    /// The `Signature-Input` and `Signature` headers for a request whose headers set gave `prefix`.
    pub fn sign(&self, prefix: &Prefix, request: &Derived<'_>, created: u64) -> [SetHeader; 2] {
        // Section 2.3: the inner list of component identifiers, then the parameters; after the label, the value of
        // `@signature-params`.
        let created = created.to_string();
        let mut input = String::with_capacity(prefix.input_head.len() + created.len() + prefix.input_tail.len());
        for part in [&*prefix.input_head, &created, &prefix.input_tail] {
            input.push_str(part);
        }
        let params = input.get(self.label.len() + 1..).unwrap_or_default();
        // Section 2.5: one line per component, `"<name>": <value>`, then `"@signature-params": <params>`.
        let mut inner = prefix.state.clone();
        for (name, value) in [("@method", request.method), ("@authority", &request.authority), ("@path", request.path)]
        {
            for part in ["\"", name, "\": ", value, "\n"] {
                inner.update(part.as_bytes());
            }
        }
        inner.update(b"\"@signature-params\": ");
        inner.update(params.as_bytes());
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        // RFC 8941 section 3.3.5 byte sequence: `:<base64>:`; 44 characters for SHA-256's 32 bytes.
        let mut b64 = [0u8; 44];
        let encoded = Base64::encode(&outer.finalize(), &mut b64).unwrap_or_default();
        let mut signature = String::with_capacity(self.label.len() + 3 + encoded.len());
        for part in [&*self.label, "=:", encoded, ":"] {
            signature.push_str(part);
        }
        let [input_name, signature_name] = &self.names;
        [
            SetHeader { name: Rc::clone(input_name), value: input.into() },
            SetHeader { name: Rc::clone(signature_name), value: signature.into() },
        ]
    }
}

/// A signature's header part ([`Signing::prefix`]): `Signature-Input`'s value before and after `created`, and the
/// HMAC state after the headers' lines.
#[derive(Clone)]
pub struct Prefix {
    input_head: Rc<str>,
    input_tail: Rc<str>,
    state: Sha256,
}

impl core::fmt::Debug for Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Prefix({}<created>{})", self.input_head, self.input_tail)
    }
}

impl core::fmt::Debug for Signing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Signing {{ label: {}, keyid: {}, key: <redacted> }}", self.label, self.keyid)
    }
}

/// The derived components (RFC 9421 section 2.2) of a request, from its pseudo-headers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Derived<'a> {
    pub method: &'a str,
    /// Section 2.2.3: lower case, without the scheme's default port.
    pub authority: String,
    /// Section 2.2.6: the target's absolute path, without the query; `/` when empty.
    pub path: &'a str,
}

impl<'a> Derived<'a> {
    /// From `:method`, `:authority`, `:path` and `:scheme`; `None` when one is missing or not UTF-8.
    pub fn from_pseudo(method: &'a [u8], authority: &'a [u8], path: &'a [u8], scheme: &[u8]) -> Option<Self> {
        let method = core::str::from_utf8(method).ok()?;
        let mut authority = core::str::from_utf8(authority).ok()?.to_ascii_lowercase();
        let default_port = if scheme == b"https" { ":443" } else { ":80" };
        if let Some(host) = authority.strip_suffix(default_port) {
            authority = host.to_string();
        }
        let path = core::str::from_utf8(path).ok()?;
        let path = path.split(['?', '#']).next().filter(|p| !p.is_empty()).unwrap_or("/");
        if method.is_empty() || authority.is_empty() {
            return None;
        }
        Some(Derived { method, authority, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (key "Jefe"): this HMAC is RFC 2104's.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let s = Signing::new("sig".into(), "k".into(), b"Jefe");
        let mac = s.mac(b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Test case 6: a key longer than the block is hashed first.
        let long = Signing::new("sig".into(), "k".into(), &[0xaa; 131]);
        assert_ne!(long.mac(b"x"), s.mac(b"x"));
    }

    #[test]
    fn derived_components_are_normalized() {
        let d = Derived::from_pseudo(b"GET", b"Example.COM:443", b"/a/b?x=1", b"https").unwrap();
        assert_eq!((d.method, d.authority.as_str(), d.path), ("GET", "example.com", "/a/b"));
        let d = Derived::from_pseudo(b"POST", b"localhost:8443", b"?q", b"https").unwrap();
        assert_eq!((d.authority.as_str(), d.path), ("localhost:8443", "/"));
        assert_eq!(Derived::from_pseudo(b"GET", b"", b"/", b"https"), None);
    }

    #[test]
    fn signature_base_is_rfc_9421_section_2_5() {
        let s = Signing::new("mtls".into(), "key-1".into(), b"0123456789abcdef0123456789abcdef");
        let set = [SetHeader { name: "x-ssl-client-cn".into(), value: "alice".into() }];
        let d = Derived::from_pseudo(b"GET", b"example.com", b"/p?q", b"https").unwrap();
        let [input, signature] = s.sign(&s.prefix(&set), &d, 1_700_000_000);
        let params = r#"("x-ssl-client-cn" "@method" "@authority" "@path");created=1700000000;keyid="key-1";alg="hmac-sha256";tag="mtls-headers""#;
        assert_eq!(&*input.value, format!("mtls={params}"));
        let base = format!(
            "\"x-ssl-client-cn\": alice\n\"@method\": GET\n\"@authority\": example.com\n\"@path\": /p\n\"@signature-params\": {params}"
        );
        assert_eq!(&*signature.value, format!("mtls=:{}:", Base64::encode_string(&s.mac(base.as_bytes()))));
    }
}

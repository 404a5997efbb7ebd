//! RFC 9421 HTTP Message Signatures over the identity the filter injects, so an application any number of hops
//! behind it can check that its identity headers came from this filter (README, "Signed identity").
//!
//! One signature, `hmac-sha256` (RFC 9421 section 3.3.3), over `@method`, `@authority`, `@path` (section 2.2) and
//! every header the filter set on the request; the key comes from the VM's environment only.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

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
    /// signature base): computed once per verified identity and cached with it. `remember_targets` for such a
    /// cached prefix: it then keeps the HMAC states of the identity's recent request targets ([`Targets`]).
    pub fn prefix(&self, set: &[SetHeader], remember_targets: bool) -> Prefix {
        // `Signature-Input`'s value up to `created`'s: `<label>=(<components>);keyid=…;alg=…;tag=…;created=`.
        // Section 2.3 leaves the parameters' order to the signer: `created`, the only one that changes, goes last.
        let mut input_head = String::with_capacity(set.len() * 24 + self.label.len() + 48);
        input_head.push_str(&self.label);
        input_head.push_str("=(");
        let mut state = self.inner.clone();
        for h in set {
            input_head.push('"');
            input_head.push_str(&h.name);
            input_head.push_str("\" ");
            base_line(&mut state, &h.name, &h.value);
        }
        input_head.push_str("\"@method\" \"@authority\" \"@path\");keyid=\"");
        for part in [&*self.keyid, "\";alg=\"hmac-sha256\";tag=\"", TAG, "\";created="] {
            input_head.push_str(part);
        }
        let targets = remember_targets.then(|| RefCell::new(Targets::default()));
        Prefix { params_at: self.label.len() + 1, input_head: input_head.into(), state, targets }
    }

    /// The `Signature-Input` and `Signature` headers for a request whose headers set gave `prefix`.
    pub fn sign(&self, prefix: &Prefix, request: &Derived<'_>, created: u64) -> [SetHeader; 2] {
        let mut digits = [0u8; 20];
        let created = decimal(created, &mut digits);
        // The signature base ends with `created`'s digits; all before them is the same for every request to the same
        // target.
        let mut inner = prefix.through_created(request);
        inner.update(created.as_bytes());
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        // Section 2.3: `Signature-Input` is the label, then the value of `@signature-params`.
        let input = concat(&[&prefix.input_head, created]);
        // RFC 8941 section 3.3.5 byte sequence: `:<base64>:`.
        let mut b64 = [0u8; 44];
        let signature = concat(&[&self.label, "=:", base64(&outer.finalize().into(), &mut b64), ":"]);
        let [input_name, signature_name] = &self.names;
        [
            SetHeader { name: Rc::clone(input_name), value: input },
            SetHeader { name: Rc::clone(signature_name), value: signature },
        ]
    }
}

/// A signature's header part ([`Signing::prefix`]): `Signature-Input`'s value before `created`'s, and the HMAC state
/// after the headers' lines.
pub struct Prefix {
    input_head: Rc<str>,
    /// Where `@signature-params`' value starts in `input_head` (after `<label>=`).
    params_at: usize,
    state: Sha256,
    /// A cached identity's recent request targets; `None` for a prefix made for one request.
    targets: Option<RefCell<Targets>>,
}

/// How many request targets an identity remembers, and the longest (method, authority and path together) it keeps:
/// at most 64 identities (`cache::CAPACITY`) x 8 x about 400 bytes.
const TARGETS: usize = 8;
const TARGET_BYTES: usize = 256;

/// The HMAC states through `created=` for the (method, authority, path) an identity requested recently. After the
/// headers' lines, the signature base holds the derived components and `@signature-params` up to `created`'s
/// value (section 2.5), which change only with the target; `@path` leaves out the query (section 2.2.6). A client
/// calling the same few endpoints (gRPC methods, a REST collection) then hashes 10 digits per request: 2 SHA-256
/// blocks with HMAC's outer one (3 when the bytes before the digits leave no room for them and the padding),
/// instead of about 7 (`baas`).
#[derive(Default)]
struct Targets {
    entries: Vec<Target>,
    /// The entry the next new target replaces once all are taken.
    next: usize,
}

struct Target {
    method: Box<str>,
    authority: Box<str>,
    path: Box<str>,
    state: Sha256,
}

impl Prefix {
    /// The HMAC state after the signature base up to `created=`, remembered per target.
    fn through_created(&self, request: &Derived<'_>) -> Sha256 {
        // Never contended (one request at a time per VM); if it were, hash without the memo.
        let mut targets = self.targets.as_ref().and_then(|t| t.try_borrow_mut().ok());
        let same = |t: &&Target| {
            *t.path == *request.path && *t.authority == *request.authority && *t.method == *request.method
        };
        if let Some(hit) = targets.as_ref().and_then(|t| t.entries.iter().find(same)) {
            return hit.state.clone();
        }
        let mut state = self.state.clone();
        // Section 2.5: the derived components' lines, then `"@signature-params": <params>`.
        for (name, value) in [("@method", request.method), ("@authority", &request.authority), ("@path", request.path)]
        {
            base_line(&mut state, name, value);
        }
        state.update(b"\"@signature-params\": ");
        state.update(self.input_head.get(self.params_at..).unwrap_or_default().as_bytes());
        let size = request.method.len() + request.authority.len() + request.path.len();
        if let Some(targets) = targets.as_mut().filter(|_| size <= TARGET_BYTES) {
            let target = Target {
                method: request.method.into(),
                authority: (*request.authority).into(),
                path: request.path.into(),
                state: state.clone(),
            };
            if targets.entries.len() < TARGETS {
                targets.entries.push(target);
            } else {
                let next = targets.next;
                if let Some(slot) = targets.entries.get_mut(next) {
                    *slot = target;
                }
                targets.next = (next + 1) % TARGETS;
            }
        }
        state
    }
}

/// Section 2.5: a component's line in the signature base, `"<name>": <value>` and a newline.
fn base_line(state: &mut Sha256, name: &str, value: &str) {
    for part in ["\"", name, "\": ", value, "\n"] {
        state.update(part.as_bytes());
    }
}

/// `parts` joined, allocated once: a header value of up to 512 bytes is assembled on the stack.
fn concat(parts: &[&str]) -> Rc<str> {
    let mut buf = [0u8; 512];
    let mut len = 0;
    for part in parts {
        match buf.get_mut(len..len + part.len()) {
            Some(dst) => dst.copy_from_slice(part.as_bytes()),
            None => return parts.concat().into(),
        }
        len += part.len();
    }
    // Whole `&str`s were copied, so the bytes are UTF-8.
    buf.get(..len).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or_default().into()
}

/// `n` in decimal, in `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    core::str::from_utf8(&buf[at..]).unwrap_or_default()
}

/// RFC 4648 section 4 base64 of a MAC, with padding. Not constant-time, unlike base64ct: the MAC is public (it is
/// the header's value), and this is a tenth of base64ct's cost per request.
fn base64<'b>(mac: &[u8; 32], out: &'b mut [u8; 44]) -> &'b str {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol = |six: u32| ALPHABET[(six & 63) as usize];
    for (chunk, dst) in mac.chunks(3).zip(out.chunks_mut(4)) {
        let byte = |i: usize| chunk.get(i).map_or(0, |b| u32::from(*b));
        let bits = byte(0) << 16 | byte(1) << 8 | byte(2);
        dst.copy_from_slice(&[symbol(bits >> 18), symbol(bits >> 12), symbol(bits >> 6), symbol(bits)]);
    }
    // 32 = 10 x 3 + 2: the last group encodes two bytes, so one `=`.
    out[43] = b'=';
    core::str::from_utf8(out).unwrap_or_default()
}

impl core::fmt::Debug for Prefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Prefix({}<created>)", self.input_head)
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
    pub authority: Cow<'a, str>,
    /// Section 2.2.6: the target's absolute path, without the query; `/` when empty.
    pub path: &'a str,
}

impl<'a> Derived<'a> {
    /// From `:method`, `:authority`, `:path` and `:scheme`; `None` when one is missing or not UTF-8.
    pub fn from_pseudo(method: &'a [u8], authority: &'a [u8], path: &'a [u8], scheme: &[u8]) -> Option<Self> {
        let method = core::str::from_utf8(method).ok()?;
        let authority = core::str::from_utf8(authority).ok()?;
        let default_port = if scheme == b"https" { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(authority);
        // Allocated only when there is something to lower.
        let authority = match authority.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(authority.to_ascii_lowercase()),
            false => Cow::Borrowed(authority),
        };
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
    use base64ct::{Base64, Encoding};

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
        assert_eq!((d.method, &*d.authority, d.path), ("GET", "example.com", "/a/b"));
        let d = Derived::from_pseudo(b"POST", b"localhost:8443", b"?q", b"https").unwrap();
        assert_eq!((&*d.authority, d.path), ("localhost:8443", "/"));
        assert_eq!(Derived::from_pseudo(b"GET", b"", b"/", b"https"), None);
    }

    #[test]
    fn signature_base_is_rfc_9421_section_2_5() {
        let s = Signing::new("mtls".into(), "key-1".into(), b"0123456789abcdef0123456789abcdef");
        let set = [SetHeader { name: "x-ssl-client-cn".into(), value: "alice".into() }];
        let d = Derived::from_pseudo(b"GET", b"example.com", b"/p?q", b"https").unwrap();
        let [input, signature] = s.sign(&s.prefix(&set, true), &d, 1_700_000_000);
        let params = r#"("x-ssl-client-cn" "@method" "@authority" "@path");keyid="key-1";alg="hmac-sha256";tag="mtls-headers";created=1700000000"#;
        assert_eq!(&*input.value, format!("mtls={params}"));
        let base = format!(
            "\"x-ssl-client-cn\": alice\n\"@method\": GET\n\"@authority\": example.com\n\"@path\": /p\n\"@signature-params\": {params}"
        );
        assert_eq!(&*signature.value, format!("mtls=:{}:", Base64::encode_string(&s.mac(base.as_bytes()))));
    }

    /// A remembered target signs as a fresh prefix does: on a hit, after the memo's round-robin replaced entries,
    /// and for a target too long to remember.
    #[test]
    fn remembered_targets_sign_as_fresh_ones() {
        let s = Signing::new("mtls".into(), "key-1".into(), b"k");
        let set = [SetHeader { name: "x-ssl-client-cn".into(), value: "alice".into() }];
        let cached = s.prefix(&set, true);
        let long = format!("/{}", "p".repeat(TARGET_BYTES));
        // Fill, hit every entry, replace three, then cycle through the first ones (each replaces the oldest).
        let order = (0..TARGETS).chain(0..TARGETS).chain(TARGETS..TARGETS + 3).chain(0..TARGETS);
        let paths: Vec<String> = order.map(|i| format!("/p{i}")).collect();
        for (i, path) in paths.iter().chain([&long, &long]).enumerate() {
            let d = Derived::from_pseudo(b"GET", b"Example.com", path.as_bytes(), b"https").unwrap();
            let created = 1_700_000_000 + i as u64;
            let fresh = s.sign(&s.prefix(&set, false), &d, created);
            assert_eq!(s.sign(&cached, &d, created), fresh, "{path}");
        }
        let targets = cached.targets.as_ref().unwrap().borrow();
        let kept: Vec<&str> = targets.entries.iter().map(|t| &*t.path).collect();
        assert_eq!(kept, ["/p5", "/p6", "/p7", "/p0", "/p1", "/p2", "/p3", "/p4"]);
    }

    #[test]
    fn encoders_match_references() {
        for seed in 0u8..=255 {
            let mac: [u8; 32] =
                core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(seed | 1)));
            assert_eq!(base64(&mac, &mut [0; 44]), Base64::encode_string(&mac));
        }
        for n in [0, 7, 10, 1_700_000_000, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
        let big = "x".repeat(600);
        assert_eq!(&*concat(&["a", &big, "b"]), format!("a{big}b"));
        assert_eq!(&*concat(&["a=", "", "b"]), "a=b");
    }
}

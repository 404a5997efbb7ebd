//! The host boundary of the proxy-wasm adapter: the [`Host`] trait every host call goes through (the ABI in
//! `proxy.rs`, the state-based fake in `fake.rs`), and the proxy-wasm header-map encoding.

pub use mtls_headers_core::metrics::Counter;
pub use mtls_headers_core::Level;

/// A host call that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// The proxy-wasm status the host answered.
    Status(u32),
    /// The host answered, but not in the ABI's encoding.
    Malformed(&'static str),
}

impl core::fmt::Display for HostError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HostError::Status(code) => write!(f, "status {code}"),
            HostError::Malformed(what) => write!(f, "malformed {what}"),
        }
    }
}

/// Header pairs as owned bytes (names and values: a client can send a non-UTF-8 value).
pub type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

/// Request headers as the host hands them over: one buffer in the proxy-wasm map encoding, read in place. Every
/// request reads the whole map, so this saves two allocations per header.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    raw: Vec<u8>,
    count: usize,
}

impl Headers {
    /// Checks the encoding once; `None` for a malformed map (never a panic).
    pub fn from_map_bytes(raw: Vec<u8>) -> Option<Headers> {
        if raw.is_empty() {
            return Some(Headers::default());
        }
        let count = u32_at(&raw, 0)?;
        let mut data = count.checked_mul(8)?.checked_add(4)?;
        for i in 0..count {
            for len in [u32_at(&raw, 4 + i * 8)?, u32_at(&raw, 8 + i * 8)?] {
                data = data.checked_add(len)?.checked_add(1)?;
            }
        }
        (data <= raw.len()).then_some(Headers { raw, count })
    }

    pub fn from_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Option<Headers> {
        Some(Headers { raw: encode_map(pairs)?, count: pairs.len() })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// (name, value) pairs in the host's order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut data = self.count.saturating_mul(8).saturating_add(4);
        (0..self.count).map_while(move |i| {
            let (k, v) = (u32_at(&self.raw, 4 + i * 8)?, u32_at(&self.raw, 8 + i * 8)?);
            let name = self.raw.get(data..data + k)?;
            data += k + 1;
            let value = self.raw.get(data..data + v)?;
            data += v + 1;
            Some((name, value))
        })
    }
}

/// The proxy-wasm map encoding (ABI 0.2.1): u32 count, then u32 key and value lengths per pair, then each key and
/// value followed by NUL. `None` when a length does not fit in a u32.
pub fn encode_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Option<Vec<u8>> {
    let len32 = |n: usize| u32::try_from(n).ok().map(u32::to_le_bytes);
    let size = pairs.iter().map(|(k, v)| 10 + k.as_ref().len() + v.as_ref().len()).sum::<usize>() + 4;
    let mut raw = Vec::with_capacity(size);
    raw.extend_from_slice(&len32(pairs.len())?);
    for (k, v) in pairs {
        raw.extend_from_slice(&len32(k.as_ref().len())?);
        raw.extend_from_slice(&len32(v.as_ref().len())?);
    }
    for (k, v) in pairs {
        raw.extend_from_slice(k.as_ref());
        raw.push(0);
        raw.extend_from_slice(v.as_ref());
        raw.push(0);
    }
    Some(raw)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = <[u8; 4]>::try_from(bytes.get(at..at.checked_add(4)?)?).ok()?;
    usize::try_from(u32::from_le_bytes(b)).ok()
}

/// The host calls the filter needs, nothing more.
pub trait Host {
    /// A property by its dotted name (`connection.mtls`, `ngx.ssl_client_verify`: `catalog`). `Ok(None)` when the
    /// host says it does not exist.
    fn property(&self, name: &str) -> Result<Option<Vec<u8>>, HostError>;
    fn request_headers(&self) -> Result<Headers, HostError>;
    /// Removes every value of the header (host matching is case-insensitive).
    fn remove_request_header(&mut self, name: &[u8]) -> Result<(), HostError>;
    /// Sets the header to exactly this one value.
    fn set_request_header(&mut self, name: &str, value: &[u8]) -> Result<(), HostError>;
    /// `details`: why, for the host's logs (Envoy's `%RESPONSE_CODE_DETAILS%`).
    fn send_local_reply(&mut self, status: u32, details: &str, body: &[u8]) -> Result<(), HostError>;
    /// Ends the HTTP stream without a reply (`proxy_close_stream`).
    fn close_stream(&mut self) -> Result<(), HostError>;
    /// Seconds since the Unix epoch, from the host clock.
    fn now_unix(&self) -> Result<u64, HostError>;
    fn log(&self, level: Level, message: &str);
    /// Adds `n` to a counter (proxy-wasm metrics). Never fails a request: a host without metrics counts nothing.
    fn count(&mut self, counter: Counter, n: u64);
}

#[cfg(test)]
mod tests {
    use super::Headers;

    #[test]
    fn header_map_round_trip_and_truncation() {
        let mut b = vec![2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0];
        b.extend_from_slice(b"a\0bc\0de\0\xe9\0");
        let m = Headers::from_map_bytes(b.clone()).unwrap();
        let pairs: Vec<(&[u8], &[u8])> = m.iter().collect();
        assert_eq!(pairs, vec![(b"a".as_slice(), b"bc".as_slice()), (b"de".as_slice(), b"\xe9".as_slice())]);
        let owned = vec![(b"a".to_vec(), b"bc".to_vec()), (b"de".to_vec(), vec![0xe9])];
        assert_eq!(Headers::from_pairs(&owned).unwrap().iter().collect::<Vec<_>>(), pairs);
        for cut in 1..b.len() {
            assert!(Headers::from_map_bytes(b[..cut].to_vec()).is_none(), "{cut}");
        }
        assert!(Headers::from_map_bytes(vec![255, 255, 255, 255]).is_none());
        assert!(Headers::from_map_bytes(Vec::new()).unwrap().is_empty());
    }
}

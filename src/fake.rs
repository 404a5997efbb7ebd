//! A state-based host for tests (in the spirit of the proxy-wasm Go SDK's `proxytest`): set properties and
//! request headers, run the filter, then read back headers, the local reply, the logs and the host calls made.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::catalog::Attribute;
use crate::host::{Counter, HeaderList, Headers, Host, HostError, Level};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Default, Clone)]
pub struct FakeHost {
    properties: HashMap<String, Vec<u8>>,
    failing_properties: HashMap<String, u32>,
    pub headers: HeaderList,
    pub reply: Option<LocalReply>,
    pub now: u64,
    logs: RefCell<Vec<(Level, String)>>,
    /// Every host call, in order: `request_headers`, `property <name>`, `remove <name>`, `set <name>`, `reply`,
    /// `close`, `now`.
    calls: RefCell<Vec<String>>,
    /// Makes header writes fail with this status, to test fail-closed paths.
    pub fail_header_writes: Option<u32>,
    /// Makes setting this one header fail (the others succeed), to reach a half-written identity.
    pub fail_set_of: Option<String>,
    /// Makes local replies fail with this status.
    pub fail_local_reply: Option<u32>,
    /// The filter closed the stream.
    pub closed: bool,
    /// Counters by metric name (not in `calls`: a count is bookkeeping, not a request operation).
    pub counters: HashMap<&'static str, u64>,
}

impl FakeHost {
    pub fn new() -> Self {
        FakeHost { now: 1_800_000_000, ..Default::default() }
    }

    pub fn with_property<T>(mut self, attribute: Attribute<T>, value: impl Into<Vec<u8>>) -> Self {
        self.properties.insert(attribute.name.to_string(), value.into());
        self
    }

    pub fn with_failing_property<T>(mut self, attribute: Attribute<T>, status: u32) -> Self {
        self.failing_properties.insert(attribute.name.to_string(), status);
        self
    }

    pub fn with_header(mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn at(mut self, now_unix: u64) -> Self {
        self.now = now_unix;
        self
    }

    /// Every value of a header, matched case-insensitively.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self.header_values(name);
        assert!(values.len() <= 1, "header {name} appears {} times", values.len());
        values.pop()
    }

    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.borrow().clone()
    }

    pub fn log_text(&self) -> String {
        self.logs.borrow().iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// The host calls made since the last `take_calls`.
    pub fn take_calls(&self) -> Vec<String> {
        self.calls.take()
    }

    fn call(&self, what: String) {
        self.calls.borrow_mut().push(what);
    }
}

impl Host for FakeHost {
    fn property(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.call(format!("property {name}"));
        if let Some(status) = self.failing_properties.get(name) {
            return Err(HostError::Status(*status));
        }
        Ok(self.properties.get(name).cloned())
    }

    fn request_headers(&self) -> Result<Headers, HostError> {
        self.call("request_headers".to_string());
        Headers::from_pairs(&self.headers).ok_or(HostError::Malformed("header map"))
    }

    fn remove_request_header(&mut self, name: &[u8]) -> Result<(), HostError> {
        self.call(format!("remove {}", String::from_utf8_lossy(name)));
        if let Some(s) = self.fail_header_writes {
            return Err(HostError::Status(s));
        }
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        Ok(())
    }

    fn set_request_header(&mut self, name: &str, value: &[u8]) -> Result<(), HostError> {
        self.call(format!("set {name}"));
        if let Some(s) = self.fail_header_writes {
            return Err(HostError::Status(s));
        }
        if self.fail_set_of.as_deref() == Some(name) {
            return Err(HostError::Status(1));
        }
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        self.headers.push((name.as_bytes().to_vec(), value.to_vec()));
        Ok(())
    }

    fn send_local_reply(&mut self, status: u32, details: &str, body: &[u8]) -> Result<(), HostError> {
        self.call("reply".to_string());
        if let Some(s) = self.fail_local_reply {
            return Err(HostError::Status(s));
        }
        self.reply = Some(LocalReply { status, details: details.to_string(), body: body.to_vec() });
        Ok(())
    }

    fn close_stream(&mut self) -> Result<(), HostError> {
        self.call("close".to_string());
        self.closed = true;
        Ok(())
    }

    fn now_unix(&self) -> Result<u64, HostError> {
        self.call("now".to_string());
        Ok(self.now)
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn count(&mut self, counter: Counter, n: u64) {
        *self.counters.entry(counter.name()).or_default() += n;
    }
}

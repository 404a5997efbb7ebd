//! The same plugin as [`crate::Plugin`], with the filter's adapter and core compiled natively instead of the
//! `.wasm`: the host model (headers each host builds, properties it answers, how it changes the request map) is
//! this crate's, shared with the Wasm engine, so a case that passes one way and fails the other is the build, not
//! the model. The Python case tables run both (tests/e2e/test_wasm_host.py).

use std::cell::RefCell;

use mtls_headers::adapter::{self, Outcome, State};
use mtls_headers::host::{Counter, Headers, Host, HostError, Level};
use mtls_headers_core::config::Config;

use crate::{
    envoy_remove, envoy_replace, header_map, kong_remove, kong_replace, kong_reserialize, request_property,
    unconfigured, Action, Connection, Exchange, HeaderList, LocalReply, LogLevel, LogLine, Options, Profile,
    PropertyAnswer, Request, BAD_ARGUMENT,
};

/// A plugin whose filter runs natively.
pub struct NativePlugin {
    profile: Profile,
    config: Option<Config>,
    state: State,
    now_unix: u64,
    fail_local_reply: bool,
    logs: Vec<LogLine>,
    metrics: Vec<(String, u64)>,
    /// `on_configure` succeeded.
    pub configured: bool,
}

impl NativePlugin {
    /// Configures as `proxy.rs`'s `on_configure` does, through the same adapter call.
    pub fn start(options: &Options) -> NativePlugin {
        let raw = match options.profile {
            Profile::Envoy => options.plugin_config.clone(),
            Profile::Kong => kong_reserialize(&options.plugin_config),
        };
        let env = |name: &str| options.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut logs = Vec::new();
        let config = adapter::configure(&raw, &env, &mut |level, line| logs.push(log_line(level, line)));
        NativePlugin {
            profile: options.profile,
            configured: config.is_some(),
            config,
            state: State::default(),
            now_unix: options.now_unix,
            fail_local_reply: options.fail_local_reply,
            logs,
            metrics: Vec::new(),
        }
    }

    /// Every counter the filter incremented, with its value (as [`crate::Plugin::metrics`]).
    pub fn metrics(&self) -> &[(String, u64)] {
        &self.metrics
    }

    /// Log lines written outside requests (configure).
    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }

    /// One request, as [`crate::Plugin::request`]; a host trap is an `Err`.
    pub fn request(&mut self, connection: &Connection, request: &Request) -> Result<Exchange, &'static str> {
        let headers = header_map(self.profile, connection, request);
        if !self.configured {
            return Ok(unconfigured(headers));
        }
        let mut host = NativeHost {
            profile: self.profile,
            connection,
            visible: headers,
            hidden: Vec::new(),
            reply: None,
            closed: false,
            fail_local_reply: self.fail_local_reply,
            now_unix: self.now_unix,
            logs: RefCell::default(),
            host_logs: RefCell::default(),
            trap: None,
            metrics: &mut self.metrics,
        };
        let outcome = adapter::on_request(self.config.as_ref(), &mut host, &mut self.state);
        if let Some(trap) = host.trap {
            return Err(trap);
        }
        let mut headers = host.visible;
        headers.append(&mut host.hidden);
        Ok(Exchange {
            action: Some(if outcome == Outcome::Continue { Action::Continue } else { Action::Pause }),
            headers,
            reply: host.reply,
            logs: host.logs.into_inner(),
            host_logs: host.host_logs.into_inner(),
            closed: host.closed,
        })
    }
}

fn log_line(level: Level, message: &str) -> LogLine {
    let level = match level {
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    };
    LogLine { level, message: message.to_string() }
}

struct NativeHost<'a> {
    profile: Profile,
    connection: &'a Connection,
    visible: HeaderList,
    /// Kong: what the filter removed or replaced, hidden from it and still forwarded (crate::kong_remove).
    hidden: HeaderList,
    reply: Option<LocalReply>,
    closed: bool,
    fail_local_reply: bool,
    now_unix: u64,
    logs: RefCell<Vec<LogLine>>,
    host_logs: RefCell<Vec<String>>,
    trap: Option<&'static str>,
    metrics: &'a mut Vec<(String, u64)>,
}

impl Host for NativeHost<'_> {
    fn property(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        let path: Vec<&str> = name.split('.').collect();
        match request_property(self.profile, self.connection, &path, &mut self.host_logs.borrow_mut()) {
            PropertyAnswer::Value(v) => Ok(Some(v)),
            PropertyAnswer::NotFound => Ok(None),
            PropertyAnswer::Error(status) => Err(HostError::Status(status.unsigned_abs())),
        }
    }

    fn request_headers(&self) -> Result<Headers, HostError> {
        Headers::from_pairs(&self.visible).ok_or(HostError::Malformed("header map"))
    }

    fn remove_request_header(&mut self, name: &[u8]) -> Result<(), HostError> {
        match self.profile {
            Profile::Envoy => envoy_remove(&mut self.visible, name),
            Profile::Kong => kong_remove(&mut self.visible, &mut self.hidden, name),
        }
        Ok(())
    }

    fn set_request_header(&mut self, name: &str, value: &[u8]) -> Result<(), HostError> {
        let (key, value) = (name.as_bytes().to_vec(), value.to_vec());
        match self.profile {
            Profile::Envoy => envoy_replace(&mut self.visible, key, value),
            Profile::Kong => kong_replace(&mut self.visible, &mut self.hidden, key, value),
        }
        Ok(())
    }

    fn send_local_reply(&mut self, status: u32, details: &str, body: &[u8]) -> Result<(), HostError> {
        if self.fail_local_reply {
            return Err(HostError::Status(BAD_ARGUMENT.unsigned_abs()));
        }
        self.reply = Some(LocalReply {
            status,
            body: body.to_vec(),
            headers: vec![(b"content-type".to_vec(), b"text/plain".to_vec())],
            details: details.to_string(),
        });
        Ok(())
    }

    fn close_stream(&mut self) -> Result<(), HostError> {
        match self.profile {
            Profile::Envoy => self.closed = true,
            // The Wasm engine traps here, as ngx_wasm_module 9136e463 does (crate::define_proxy_wasm).
            Profile::Kong => self.trap = Some("host trap (function not yet implemented): proxy_close_stream"),
        }
        Ok(())
    }

    fn now_unix(&self) -> Result<u64, HostError> {
        Ok(self.now_unix)
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push(log_line(level, message));
    }

    fn count(&mut self, counter: Counter, n: u64) {
        match self.metrics.iter_mut().find(|(name, _)| name == counter.name()) {
            Some((_, value)) => *value += n,
            None => self.metrics.push((counter.name().to_string(), n)),
        }
    }
}

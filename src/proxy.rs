//! The thin proxy-wasm layer: root and HTTP contexts, and [`Host`] over the raw ABI.
//!
//! The SDK's `hostcalls` panic on any status they do not expect and unwrap UTF-8 in header maps (a client can send
//! `x-latin1: caf\xe9`; Envoy 1.40 then answers 503 and the worker's VM stays dead). A panic traps the VM, so the
//! few host calls the filter makes are declared here with `u32` statuses and never panic. The SDK still provides
//! the context dispatch (`proxy_on_*` exports) and the allocator the host writes results into.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use mtls_headers_core::config::Config;

use crate::adapter::{self, Outcome, State};
use crate::host::{Counter, Headers, Host, HostError, Level};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(Root { context_id, config: None, state: new_state() })
    });
}}

struct Root {
    context_id: u32,
    config: Option<Rc<Config>>,
    /// Identities by certificate SHA-256, for this plugin's configuration; shared by its HTTP contexts (one
    /// thread per VM, one request at a time).
    state: Rc<Cell<State>>,
}

fn new_state() -> Rc<Cell<State>> {
    Rc::new(Cell::new(State::default()))
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        log_line(self.context_id, Level::Info, &format!("mtls-headers {} started", crate::VERSION));
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let raw = match abi::get_buffer(BufferType::PluginConfiguration as u32) {
            Ok(raw) => raw.unwrap_or_default(),
            Err(e) => {
                log_line(self.context_id, Level::Error, &format!("cannot read the plugin configuration ({e})"));
                return false;
            }
        };
        let env = |name: &str| std::env::var(name).ok();
        let context_id = self.context_id;
        self.config = adapter::configure(&raw, &env, &mut |level, line| log_line(context_id, level, line)).map(Rc::new);
        // Cached values follow from the configuration: a new one starts empty.
        self.state = new_state();
        self.config.is_some()
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Returning None panics in the SDK: always return a context, unconfigured if need be.
        Some(Box::new(Http { context_id, config: self.config.clone(), state: Rc::clone(&self.state) }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    context_id: u32,
    config: Option<Rc<Config>>,
    state: Rc<Cell<State>>,
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let mut host = ProxyHost { context_id: self.context_id };
        // Taken for the request and put back after it: a VM runs one request at a time, and no borrow can fail.
        let mut state = self.state.take();
        let outcome = adapter::on_request(self.config.as_deref(), &mut host, &mut state);
        self.state.set(state);
        match outcome {
            Outcome::Continue => Action::Continue,
            // A local reply (or a closed stream) is final: never Continue after it.
            Outcome::Replied | Outcome::Closed => Action::Pause,
        }
    }
}

struct ProxyHost {
    context_id: u32,
}

impl Host for ProxyHost {
    fn property(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        abi::get_property(name)
    }

    fn request_headers(&self) -> Result<Headers, HostError> {
        abi::get_header_map_pairs(MapType::HttpRequestHeaders as u32)
    }

    fn remove_request_header(&mut self, name: &[u8]) -> Result<(), HostError> {
        abi::remove_header(MapType::HttpRequestHeaders as u32, name)
    }

    fn set_request_header(&mut self, name: &str, value: &[u8]) -> Result<(), HostError> {
        abi::replace_header(MapType::HttpRequestHeaders as u32, name, value)
    }

    fn send_local_reply(&mut self, status: u32, details: &str, body: &[u8]) -> Result<(), HostError> {
        abi::send_local_response(status, details, body, &[("content-type", "text/plain")])
    }

    fn close_stream(&mut self) -> Result<(), HostError> {
        abi::close_http_request_stream()
    }

    fn now_unix(&self) -> Result<u64, HostError> {
        abi::current_time_nanos().map(|n| n / 1_000_000_000)
    }

    fn log(&self, level: Level, message: &str) {
        log_line(self.context_id, level, message);
    }

    fn count(&mut self, counter: Counter, n: u64) {
        let name = counter.name();
        let id = METRIC_IDS.with(|ids| {
            let mut ids = ids.try_borrow_mut().ok()?;
            if let Some((_, id)) = ids.iter().find(|(known, _)| *known == name) {
                return *id;
            }
            let id = match abi::define_counter(name) {
                Ok(id) => Some(id),
                Err(e) => {
                    // Once per name and VM: a host without metrics must not cost a log line per request.
                    log_line(self.context_id, Level::Warn, &format!("cannot define metric {name} ({e})"));
                    None
                }
            };
            ids.push((name, id));
            id
        });
        if let Some(id) = id {
            let _ = abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

thread_local! {
    /// Counter ids by name, defined on first use (a VM runs on one thread); `None`: the host refused it.
    static METRIC_IDS: RefCell<Vec<(&'static str, Option<u32>)>> = const { RefCell::new(Vec::new()) };
}

fn log_line(context_id: u32, level: Level, message: &str) {
    let level = match level {
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    };
    abi::log(level as u32, &format!("[{context_id}] {message}"));
}

/// Raw proxy-wasm ABI 0.2.1 calls (https://github.com/proxy-wasm/spec/tree/main/abi-versions/v0.2.1).
#[allow(clashing_extern_declarations, unsafe_code)]
mod abi {
    use core::ptr::null_mut;

    use crate::host::{encode_map, Headers, HostError};

    const OK: u32 = 0;
    const NOT_FOUND: u32 = 1;
    /// proxy-wasm ABI 0.2.1 `StreamType::HttpRequest`.
    const STREAM_TYPE_HTTP_REQUEST: u32 = 0;

    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
        fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
        fn proxy_get_buffer_bytes(
            buffer_type: u32,
            start: usize,
            max_size: usize,
            return_buffer_data: *mut *mut u8,
            return_buffer_size: *mut usize,
        ) -> u32;
        fn proxy_get_header_map_pairs(map_type: u32, return_map_data: *mut *mut u8, return_map_size: *mut usize)
            -> u32;
        fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
        fn proxy_replace_header_map_value(
            map_type: u32,
            key_data: *const u8,
            key_size: usize,
            value_data: *const u8,
            value_size: usize,
        ) -> u32;
        fn proxy_get_property(
            path_data: *const u8,
            path_size: usize,
            return_value_data: *mut *mut u8,
            return_value_size: *mut usize,
        ) -> u32;
        fn proxy_close_stream(stream_type: u32) -> u32;
        fn proxy_define_metric(metric_type: u32, name_data: *const u8, name_size: usize, return_id: *mut u32) -> u32;
        fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
        fn proxy_send_local_response(
            status_code: u32,
            status_code_details_data: *const u8,
            status_code_details_size: usize,
            body_data: *const u8,
            body_size: usize,
            headers_data: *const u8,
            headers_size: usize,
            grpc_status: i32,
        ) -> u32;
    }

    /// Takes ownership of memory the host allocated through the SDK's `proxy_on_memory_allocate` (a `Vec<u8>`).
    fn take(data: *mut u8, size: usize) -> Vec<u8> {
        if data.is_null() {
            return Vec::new();
        }
        // SAFETY: the host wrote `size` bytes into a buffer it obtained from `proxy_on_memory_allocate(size)`,
        // which allocates a Vec<u8> with exactly that capacity.
        unsafe { Vec::from_raw_parts(data, size, size) }
    }

    fn status(code: u32) -> Result<(), HostError> {
        if code == OK {
            Ok(())
        } else {
            Err(HostError::Status(code))
        }
    }

    pub fn log(level: u32, message: &str) {
        // SAFETY: pointer and length of a live str.
        let _ = unsafe { proxy_log(level, message.as_ptr(), message.len()) };
    }

    pub fn current_time_nanos() -> Result<u64, HostError> {
        let mut t: u64 = 0;
        // SAFETY: valid out-pointer.
        status(unsafe { proxy_get_current_time_nanoseconds(&mut t) })?;
        Ok(t)
    }

    pub fn get_buffer(buffer_type: u32) -> Result<Option<Vec<u8>>, HostError> {
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: valid out-pointers.
        match unsafe { proxy_get_buffer_bytes(buffer_type, 0, usize::MAX, &mut data, &mut size) } {
            OK => Ok(Some(take(data, size))),
            NOT_FOUND => Ok(None),
            code => Err(HostError::Status(code)),
        }
    }

    pub fn get_property(name: &str) -> Result<Option<Vec<u8>>, HostError> {
        // The dotted name's segments separated by NUL, with none after the last (what the proxy-wasm Rust SDK
        // sends). ngx_wasm_module turns every NUL into a dot, so a trailing one names another variable
        // (`ngx.ssl_client_verify.`).
        let serialized: Vec<u8> = name.bytes().map(|b| if b == b'.' { 0 } else { b }).collect();
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: valid input slice and out-pointers.
        match unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) } {
            OK if data.is_null() => Ok(None),
            OK => Ok(Some(take(data, size))),
            NOT_FOUND => Ok(None),
            code => Err(HostError::Status(code)),
        }
    }

    pub fn get_header_map_pairs(map_type: u32) -> Result<Headers, HostError> {
        let (mut data, mut size) = (null_mut(), 0usize);
        // SAFETY: valid out-pointers.
        status(unsafe { proxy_get_header_map_pairs(map_type, &mut data, &mut size) })?;
        Headers::from_map_bytes(take(data, size)).ok_or(HostError::Malformed("header map"))
    }

    pub fn remove_header(map_type: u32, name: &[u8]) -> Result<(), HostError> {
        // SAFETY: pointer and length of a live slice.
        status(unsafe { proxy_remove_header_map_value(map_type, name.as_ptr(), name.len()) })
    }

    pub fn replace_header(map_type: u32, name: &str, value: &[u8]) -> Result<(), HostError> {
        // SAFETY: pointers and lengths of live slices.
        status(unsafe {
            proxy_replace_header_map_value(map_type, name.as_ptr(), name.len(), value.as_ptr(), value.len())
        })
    }

    /// proxy-wasm ABI 0.2.1 `MetricType::Counter`.
    const METRIC_COUNTER: u32 = 0;

    pub fn define_counter(name: &str) -> Result<u32, HostError> {
        let mut id = 0u32;
        // SAFETY: pointer and length of a live str, valid out-pointer.
        status(unsafe { proxy_define_metric(METRIC_COUNTER, name.as_ptr(), name.len(), &mut id) })?;
        Ok(id)
    }

    pub fn increment_metric(id: u32, offset: i64) -> Result<(), HostError> {
        // SAFETY: no pointers.
        status(unsafe { proxy_increment_metric(id, offset) })
    }

    pub fn close_http_request_stream() -> Result<(), HostError> {
        // SAFETY: no pointers.
        status(unsafe { proxy_close_stream(STREAM_TYPE_HTTP_REQUEST) })
    }

    pub fn send_local_response(
        status_code: u32,
        details: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<(), HostError> {
        let map = encode_map(headers).ok_or(HostError::Malformed("local reply headers"))?;
        // SAFETY: pointers and lengths of live slices; -1: not a gRPC reply.
        status(unsafe {
            proxy_send_local_response(
                status_code,
                details.as_ptr(),
                details.len(),
                body.as_ptr(),
                body.len(),
                map.as_ptr(),
                map.len(),
                -1,
            )
        })
    }
}

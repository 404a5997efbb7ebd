//! A no-op proxy-wasm HTTP filter for `make bench`, built like mtls-headers: a root context that creates an HTTP
//! context which lets every request through untouched. It measures the fixed cost of any Wasm filter in Envoy's V8
//! runtime (VM entry, context creation and the per-request callbacks), so the real filter's own cost shows apart
//! from it.
//!
//! With a plugin configuration it is a "host-call floor" arm instead: per request it makes exactly the host calls
//! named there and nothing else, with nothing allocated by its own code (the host still writes each answer into
//! memory the module allocates, as it does for the filter), so the cost of the proxy-wasm calls a filter needs
//! shows apart from the cost of its own code. Format: `;`-separated `props=<dotted path>,<dotted path>...`,
//! `map=<n>` (request header map reads), `clock=<n>` (clock reads), `set=<n>` (header writes),
//! `signed=<bytes>,<bytes>` (two more writes, `signature-input` and `signature` with values of those lengths: what
//! signing adds to the host's work), and `apply=replace|add|pairs`: how the `set` headers are written
//! (`proxy_replace_header_map_value` each, the default; `proxy_add_header_map_value` each; or one
//! `proxy_set_header_map_pairs` with the map read plus them).
//! The raw calls are declared here, as the filter's `proxy.rs` declares its own: the SDK's `hostcalls` allocate a
//! path vector per property read and a `String` pair per header.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_context_id| -> Box<dyn RootContext> { Box::new(Root(Rc::new(Calls::default()))) });
}}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Apply {
    #[default]
    Replace,
    Add,
    Pairs,
}

#[derive(Default)]
struct Calls {
    /// Property paths in the ABI's form: segments separated by NUL.
    props: Vec<Vec<u8>>,
    maps: u32,
    clocks: u32,
    /// The names of the headers written, made once.
    sets: Vec<Vec<u8>>,
    /// `signed`: the two signature headers, names and values made once, written by replace after `sets`.
    signed: Vec<(Vec<u8>, Vec<u8>)>,
    apply: Apply,
}

const VALUE: &[u8] = b"a typical value";

impl Calls {
    fn parse(text: &str) -> Calls {
        let mut calls = Calls::default();
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let (value, n) = (value.trim(), value.trim().parse().unwrap_or(0));
            match key.trim() {
                "props" => {
                    calls.props = value
                        .split(',')
                        .map(|p| p.trim().bytes().map(|b| if b == b'.' { 0 } else { b }).collect())
                        .collect()
                }
                "map" => calls.maps = n,
                "clock" => calls.clocks = n,
                "set" => calls.sets = (0..n).map(|i| format!("x-floor-{i}").into_bytes()).collect(),
                "signed" => {
                    let lengths = value.split(',').map(|l| l.trim().parse().unwrap_or(0));
                    calls.signed = ["signature-input", "signature"]
                        .iter()
                        .zip(lengths)
                        .map(|(name, len)| (name.as_bytes().to_vec(), vec![b'a'; len]))
                        .collect();
                }
                "apply" => {
                    calls.apply = match value {
                        "add" => Apply::Add,
                        "pairs" => Apply::Pairs,
                        _ => Apply::Replace,
                    }
                }
                _ => {}
            }
        }
        calls
    }
}

struct Root(Rc<Calls>);

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let config = abi::plugin_configuration();
        self.0 = Rc::new(Calls::parse(&String::from_utf8_lossy(&config)));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Noop(Rc::clone(&self.0))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Noop(Rc<Calls>);

impl Context for Noop {}

impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let calls = &*self.0;
        let mut map = Vec::new();
        for _ in 0..calls.maps {
            map = abi::request_header_map();
        }
        for path in &calls.props {
            drop(abi::property(path));
        }
        for _ in 0..calls.clocks {
            abi::clock();
        }
        match calls.apply {
            Apply::Replace => calls.sets.iter().for_each(|name| abi::replace_request_header(name, VALUE)),
            Apply::Add => calls.sets.iter().for_each(|name| abi::add_request_header(name, VALUE)),
            Apply::Pairs => abi::set_request_header_map(&with_headers(&map, &calls.sets)),
        }
        calls.signed.iter().for_each(|(name, value)| abi::replace_request_header(name, value));
        Action::Continue
    }
}

/// The map `map` (the proxy-wasm encoding: count, then each name and value size, then each NUL-terminated name and
/// value) with `names` appended, each with [`VALUE`]: what a filter applying its output as one map would send. The
/// one allocation is this option's own cost.
fn with_headers(map: &[u8], names: &[Vec<u8>]) -> Vec<u8> {
    let u32_at = |at: usize| map.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let count = u32_at(0);
    let (sizes, data) = map.split_at((4 + count * 8).min(map.len()));
    let sizes = sizes.get(4..).unwrap_or_default();
    let mut out = Vec::with_capacity(map.len() + names.len() * (8 + 32));
    out.extend_from_slice(&((count + names.len()) as u32).to_le_bytes());
    out.extend_from_slice(sizes);
    for name in names {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(VALUE.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(data);
    for name in names {
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(VALUE);
        out.push(0);
    }
    out
}

/// Raw proxy-wasm ABI 0.2.1 calls; statuses are ignored (the floor only pays for the calls).
#[allow(unsafe_code)]
mod abi {
    use core::ptr::null_mut;

    const REQUEST_HEADERS: u32 = 0;
    const PLUGIN_CONFIGURATION: u32 = 7;

    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_get_buffer_bytes(t: u32, start: usize, max: usize, data: *mut *mut u8, size: *mut usize) -> u32;
        fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
        fn proxy_set_header_map_pairs(map: u32, data: *const u8, size: usize) -> u32;
        fn proxy_replace_header_map_value(map: u32, k: *const u8, kl: usize, v: *const u8, vl: usize) -> u32;
        fn proxy_add_header_map_value(map: u32, k: *const u8, kl: usize, v: *const u8, vl: usize) -> u32;
        fn proxy_get_property(path: *const u8, len: usize, data: *mut *mut u8, size: *mut usize) -> u32;
        fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    }

    /// What the host wrote into memory it got from the SDK's `proxy_on_memory_allocate` (a `Vec` of that size).
    fn take(data: *mut u8, size: usize) -> Vec<u8> {
        if data.is_null() {
            return Vec::new();
        }
        // SAFETY: the host wrote `size` bytes into an allocation of exactly that size made by the SDK's allocator.
        unsafe { Vec::from_raw_parts(data, size, size) }
    }

    pub fn plugin_configuration() -> Vec<u8> {
        let (mut data, mut size) = (null_mut(), 0);
        // SAFETY: out-pointers to locals.
        unsafe { proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, usize::MAX, &mut data, &mut size) };
        take(data, size)
    }

    pub fn request_header_map() -> Vec<u8> {
        let (mut data, mut size) = (null_mut(), 0);
        // SAFETY: out-pointers to locals.
        unsafe { proxy_get_header_map_pairs(REQUEST_HEADERS, &mut data, &mut size) };
        take(data, size)
    }

    pub fn set_request_header_map(map: &[u8]) {
        // SAFETY: a live slice.
        unsafe { proxy_set_header_map_pairs(REQUEST_HEADERS, map.as_ptr(), map.len()) };
    }

    pub fn replace_request_header(name: &[u8], value: &[u8]) {
        // SAFETY: live slices.
        unsafe {
            proxy_replace_header_map_value(REQUEST_HEADERS, name.as_ptr(), name.len(), value.as_ptr(), value.len())
        };
    }

    pub fn add_request_header(name: &[u8], value: &[u8]) {
        // SAFETY: live slices.
        unsafe { proxy_add_header_map_value(REQUEST_HEADERS, name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
    }

    pub fn property(path: &[u8]) -> Vec<u8> {
        let (mut data, mut size) = (null_mut(), 0);
        // SAFETY: a live slice and out-pointers to locals.
        unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
        take(data, size)
    }

    pub fn clock() {
        let mut t = 0u64;
        // SAFETY: an out-pointer to a local.
        unsafe { proxy_get_current_time_nanoseconds(&mut t) };
    }
}

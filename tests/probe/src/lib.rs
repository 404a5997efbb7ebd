//! A probe of a proxy-wasm host's request-path semantics, for tests only (tests/e2e/test_host_probe.py).
//!
//! The filter relies on a few host facts: how a property path is joined, what removing, replacing, adding and
//! replacing the whole request header map do to what the upstream receives, and which properties a host does not
//! implement. The test host (tests/wasmhost) emulates them; this probe replays the same operations on the emulator
//! and on the real host, so the two are compared rather than believed.
//!
//! The request names the operations in `probe-ops`, `;`-separated, each `<op> <argument>`:
//! `remove <name>`, `replace <name>=<value>`, `add <name>=<value>`, `map-drop <name>` (the whole map set again
//! without `<name>`), `map-keep` (the whole map set again unchanged), `prop <dotted path>` (the path's segments
//! sent NUL-joined, as the Rust SDK does), `prop-nul <dotted path>` (the same with a trailing NUL). Each property
//! read adds `probe-prop-<n>: found:<value>` / `missing` / `status:<n>`; last, `probe-view` lists the lower-case
//! names the probe itself then sees in the request map.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Probe))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Probe;

impl Context for Probe {}

const REQ: MapType = MapType::HttpRequestHeaders;

impl HttpContext for Probe {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let ops = hostcalls::get_map_value_bytes(REQ, "probe-ops").ok().flatten().unwrap_or_default();
        let ops = String::from_utf8_lossy(&ops).into_owned();
        let mut results = Vec::new();
        for op in ops.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (verb, arg) = op.split_once(' ').unwrap_or((op, ""));
            let (name, value) = arg.split_once('=').unwrap_or((arg, ""));
            match verb {
                "remove" => {
                    let _ = hostcalls::set_map_value_bytes(REQ, name, None);
                }
                "replace" => {
                    let _ = hostcalls::set_map_value_bytes(REQ, name, Some(value.as_bytes()));
                }
                "add" => {
                    let _ = hostcalls::add_map_value_bytes(REQ, name, value.as_bytes());
                }
                "map-drop" | "map-keep" => {
                    let pairs = hostcalls::get_map_bytes(REQ).unwrap_or_default();
                    let kept: Vec<(&str, &[u8])> = pairs
                        .iter()
                        .filter(|(n, _)| verb == "map-keep" || !n.eq_ignore_ascii_case(name))
                        .map(|(n, v)| (n.as_str(), v.as_slice()))
                        .collect();
                    let _ = hostcalls::set_map_bytes(REQ, kept);
                }
                "prop" => results.push(get_property(&arg.replace('.', "\0"))),
                "prop-nul" => results.push(get_property(&format!("{}\0", arg.replace('.', "\0")))),
                _ => results.push(format!("unknown op {verb}")),
            }
        }
        for (i, r) in results.iter().enumerate() {
            let _ = hostcalls::add_map_value_bytes(REQ, &format!("probe-prop-{i}"), r.as_bytes());
        }
        let view = hostcalls::get_map_bytes(REQ).unwrap_or_default();
        let names: Vec<String> = view.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        let _ = hostcalls::add_map_value_bytes(REQ, "probe-view", names.join(",").as_bytes());
        Action::Continue
    }
}

extern "C" {
    fn proxy_get_property(path: *const u8, path_len: usize, data: *mut *mut u8, len: *mut usize) -> u32;
}

/// `proxy_get_property` with the path bytes exactly as given (the SDK panics on statuses it does not expect), the
/// answer as `found:<value>` (printable ASCII, other bytes `\xNN`), `missing` (status 1, NotFound) or
/// `status:<n>`.
fn get_property(path: &str) -> String {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: the host writes a buffer it allocated through the SDK's exported allocator, `len` bytes long.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut len) };
    let value = match status {
        0 if data.is_null() => Vec::new(),
        // SAFETY: as above; ownership of the buffer passes to us.
        0 => unsafe { Vec::from_raw_parts(data, len, len) },
        1 => return "missing".into(),
        n => return format!("status:{n}"),
    };
    let mut s = String::from("found:");
    for b in value {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

//! A no-op proxy-wasm HTTP filter for `make bench`, built like mtls-headers: a root context that creates an HTTP
//! context which lets every request through untouched. It measures the fixed cost of any Wasm filter in Envoy's V8
//! runtime (VM entry, context creation and the per-request callbacks), so the real filter's own cost shows apart
//! from it.
//!
//! With a plugin configuration it is the "host-call floor" arm instead: per request it makes exactly the host calls
//! named there and nothing else, so the cost of the proxy-wasm calls a filter needs shows apart from the cost of
//! its own code. Format: `;`-separated `props=<dotted path>,<dotted path>...`, `map=<n>` (request header map
//! reads), `set=<n>` (header writes), `clock=<n>` (clock reads).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_context_id| -> Box<dyn RootContext> { Box::new(Root(Calls::default())) });
}}

#[derive(Clone, Default)]
struct Calls {
    props: Vec<Vec<String>>,
    maps: u32,
    sets: u32,
    clocks: u32,
}

impl Calls {
    fn parse(text: &str) -> Calls {
        let mut calls = Calls::default();
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let n = value.trim().parse().unwrap_or(0);
            match key.trim() {
                "props" => {
                    calls.props = value.split(',').map(|p| p.trim().split('.').map(str::to_string).collect()).collect()
                }
                "map" => calls.maps = n,
                "set" => calls.sets = n,
                "clock" => calls.clocks = n,
                _ => {}
            }
        }
        calls
    }
}

struct Root(Calls);

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten();
        self.0 = Calls::parse(&String::from_utf8_lossy(&config.unwrap_or_default()));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Noop(self.0.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Noop(Calls);

impl Context for Noop {}

impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let calls = &self.0;
        for _ in 0..calls.maps {
            let _ = hostcalls::get_map_bytes(MapType::HttpRequestHeaders);
        }
        for path in &calls.props {
            let _ = hostcalls::get_property(path.iter().map(String::as_str).collect());
        }
        for _ in 0..calls.clocks {
            let _ = hostcalls::get_current_time();
        }
        for i in 0..calls.sets {
            let name = format!("x-floor-{i}");
            let _ = hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, &name, Some(b"a typical value"));
        }
        Action::Continue
    }
}

//! `wasmhost`: the test host as a line-oriented JSON service, so the Python end-to-end tables can run the same
//! cases through the `.wasm` on both host profiles. One JSON object per input line (a plugin, a connection and
//! its requests), one JSON object per output line; `"engine": "native"` runs the filter compiled natively instead
//! of the `.wasm`. Header names and values are byte strings written as JSON strings with one character per byte
//! (latin-1), so non-UTF-8 bytes pass through.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use serde_json::{json, Value};
use wasmhost::native::NativePlugin;
use wasmhost::{profile_named, Connection, Exchange, Filter, HeaderList, LogLine, Options, PeerCert, Request, Verify};

fn bytes(v: &Value) -> Result<Vec<u8>, String> {
    let s = v.as_str().ok_or("expected a string")?;
    s.chars().map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("not a latin-1 byte string: {s:?}"))).collect()
}

fn latin1(b: &[u8]) -> Value {
    Value::String(b.iter().map(|&b| char::from(b)).collect())
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn headers(v: Option<&Value>) -> Result<HeaderList, String> {
    let Some(list) = v.and_then(Value::as_array) else { return Ok(Vec::new()) };
    list.iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([n, v]) => Ok((bytes(n)?, bytes(v)?)),
            _ => Err("a header is a [name, value] pair".to_string()),
        })
        .collect()
}

fn connection(v: &Value) -> Result<Connection, String> {
    let cert = match v.get("cert") {
        None | Some(Value::Null) => None,
        Some(c) => Some(PeerCert {
            pem: text(c, "pem"),
            sha256_hex: text(c, "sha256"),
            sha1_hex: text(c, "sha1"),
            subject_dn: text(c, "subject_dn"),
            issuer_dn: text(c, "issuer_dn"),
            serial_hex: text(c, "serial"),
        }),
    };
    let verify = match text(v, "verify").as_str() {
        "SUCCESS" => Verify::Success,
        "NONE" | "" => Verify::None,
        other => Verify::Failed(other.strip_prefix("FAILED:").ok_or(format!("bad verify {other:?}"))?.to_string()),
    };
    Ok(Connection { tls: v.get("tls").and_then(Value::as_bool).unwrap_or(true), verify, cert })
}

fn metrics(counters: &[(String, u64)]) -> Value {
    Value::Object(counters.iter().map(|(name, value)| (name.clone(), json!(value))).collect())
}

fn logs(lines: &[LogLine]) -> Value {
    Value::Array(lines.iter().map(|l| json!([format!("{:?}", l.level).to_lowercase(), l.message])).collect())
}

fn exchange(x: &Exchange) -> Value {
    json!({
        "action": x.action.map(|a| format!("{a:?}").to_lowercase()),
        "forwarded": x.forwarded(),
        "headers": x.headers.iter().map(|(n, v)| json!([latin1(n), latin1(v)])).collect::<Vec<_>>(),
        "reply": x.reply.as_ref().map(|r| json!({
            "status": r.status,
            "body": latin1(&r.body),
            "details": r.details,
            "headers": r.headers.iter().map(|(n, v)| json!([latin1(n), latin1(v)])).collect::<Vec<_>>(),
        })),
        "logs": logs(&x.logs),
        "host_logs": x.host_logs,
        "closed": x.closed,
    })
}

fn run(filters: &mut HashMap<PathBuf, Filter>, input: &Value) -> Result<Value, String> {
    let profile = profile_named(&text(input, "profile")).ok_or("profile: envoy or kong")?;
    let mut options = Options::new(profile, text(input, "config"));
    options.vm_config = text(input, "vm_config").into_bytes();
    if let Some(env) = input.get("env").and_then(Value::as_object) {
        options.env = env.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
    }
    options.fail_local_reply = input.get("fail_local_reply").and_then(Value::as_bool).unwrap_or(false);
    if let Some(now) = input.get("now").and_then(Value::as_u64) {
        options.now_unix = now;
    }
    let conn = connection(input.get("connection").unwrap_or(&Value::Null))?;
    let mut requests = Vec::new();
    for r in input.get("requests").and_then(Value::as_array).into_iter().flatten() {
        let mut req = Request::get(r.get("path").and_then(Value::as_str).unwrap_or("/"));
        req.h2 = r.get("h2").and_then(Value::as_bool).unwrap_or(false);
        req.headers = headers(r.get("headers"))?;
        requests.push(req);
    }
    let mut exchanges = Vec::new();
    // `engine`: "wasm" (the default: the built .wasm on wasmtime) or "native" (the same adapter and core compiled
    // for this machine, src/native.rs), under the same host model.
    if text(input, "engine") == "native" {
        let mut plugin = NativePlugin::start(&options);
        for req in &requests {
            exchanges.push(exchange(&plugin.request(&conn, req).map_err(|e| format!("trap: {e}"))?));
        }
        let root_reads: [&str; 0] = [];
        return Ok(json!({
            "configured": plugin.configured,
            "logs": logs(plugin.logs()),
            "root_property_reads": root_reads,
            "exchanges": exchanges,
            "metrics": metrics(plugin.metrics()),
        }));
    }
    let wasm = PathBuf::from(input.get("wasm").and_then(Value::as_str).ok_or("wasm: path expected")?);
    if !filters.contains_key(&wasm) {
        let f = Filter::from_file(&wasm).map_err(|e| format!("loading {}: {e:#}", wasm.display()))?;
        filters.insert(wasm.clone(), f);
    }
    let mut plugin = filters[&wasm].start(options).map_err(|e| format!("trap: {e:#}"))?;
    for req in &requests {
        exchanges.push(exchange(&plugin.request(&conn, req).map_err(|e| format!("trap: {e:#}"))?));
    }
    Ok(json!({
        "configured": plugin.configured,
        "logs": logs(plugin.logs()),
        "root_property_reads": plugin.root_property_reads(),
        "exchanges": exchanges,
        "metrics": metrics(plugin.metrics()),
    }))
}

fn main() -> std::process::ExitCode {
    let mut filters = HashMap::new();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return std::process::ExitCode::FAILURE };
        if line.trim().is_empty() {
            continue;
        }
        let out = match serde_json::from_str::<Value>(&line) {
            Ok(input) => run(&mut filters, &input).unwrap_or_else(|e| json!({ "error": e })),
            Err(e) => json!({ "error": format!("bad input: {e}") }),
        };
        if writeln!(stdout, "{out}").and_then(|()| stdout.flush()).is_err() {
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}

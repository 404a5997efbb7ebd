//! Test-only: an x-forwarded-client-cert value (stdin) through a parser someone else wrote (crates.io `xfcc-parser`),
//! printed as JSON: `{"elements": [{"hash", "cert", "subject", "uri": [], "dns": []}]}` or `{"error": "..."}`.
//! tests/e2e reads what the upstream received through it (preset envoy-xfcc).

use std::io::Read;

use serde_json::{json, Value};

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        println!("{}", json!({ "error": e.to_string() }));
        return;
    }
    let out = match xfcc_parser::element_list(&input) {
        Ok(elements) => {
            let list: Vec<Value> = elements
                .iter()
                .map(|e| {
                    json!({
                        "by": e.by, "hash": e.hash, "cert": e.cert, "chain": e.chain, "subject": e.subject,
                        "uri": e.uri, "dns": e.dns,
                    })
                })
                .collect();
            json!({ "elements": list })
        }
        Err(e) => json!({ "error": format!("{e:?}") }),
    };
    println!("{out}");
}

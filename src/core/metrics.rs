//! What operators count (README, "Metrics and audit"): one verdict per request and what was done to it. An adapter
//! turns each into a host counter (proxy-wasm `proxy_define_metric` / `proxy_increment_metric`).

use crate::decision::details;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Verified,
    NoCertificate,
    /// The host says the certificate failed verification (`FAILED:<reason>` from the TLS stack).
    UnverifiedByHost,
    /// Outside notBefore..notAfter, or the clock unreadable (`check_validity`).
    UnverifiedValidity,
    /// `trusted_issuers` does not list the issuer.
    UnverifiedIssuer,
    /// `trusted_spiffe_domains`, `san_allow` or `min_remaining_validity` refused it.
    UnverifiedPolicy,
    /// The host's answer or the certificate could not be read.
    Unreadable,
    /// Incremented by the number of owned names removed from a request.
    HeadersStripped,
    CacheHit,
    CacheMiss,
    /// `mode: audit`: a request `required` would have refused.
    AuditWouldRefuse,
    /// A request whose identity headers went over the size budget (some were dropped).
    BudgetDropped,
    /// A local reply, by its details string.
    Reply(&'static str),
}

/// Every counter, for the host to define up front and for the README's table.
pub const ALL: &[Counter] = &[
    Counter::Verified,
    Counter::NoCertificate,
    Counter::UnverifiedByHost,
    Counter::UnverifiedValidity,
    Counter::UnverifiedIssuer,
    Counter::UnverifiedPolicy,
    Counter::Unreadable,
    Counter::HeadersStripped,
    Counter::CacheHit,
    Counter::CacheMiss,
    Counter::AuditWouldRefuse,
    Counter::BudgetDropped,
    Counter::Reply(details::CERTIFICATE_REQUIRED),
    Counter::Reply(details::OWNED_HEADER_FROM_CLIENT),
    Counter::Reply(details::OWNED_HEADER_NOT_UTF8),
    Counter::Reply(details::HEADERS_UNREADABLE),
    Counter::Reply(details::HOST_UNKNOWN),
    Counter::Reply(details::STRIP_FAILED),
    Counter::Reply(details::INJECT_FAILED),
    Counter::Reply(details::NOT_CONFIGURED),
    Counter::Reply(details::SIGN_FAILED),
];

impl Counter {
    /// The metric's name. Envoy 1.40 shows it as `wasmcustom.<name>` in /stats and as `mtls_headers_…{}` in
    /// /stats/prometheus; ngx_wasm_module as `pw:<filter name>:<name>` in its `metrics` shm zone.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Verified => "mtls_headers.verdict.verified",
            Counter::NoCertificate => "mtls_headers.verdict.no_certificate",
            Counter::UnverifiedByHost => "mtls_headers.verdict.unverified.host",
            Counter::UnverifiedValidity => "mtls_headers.verdict.unverified.validity",
            Counter::UnverifiedIssuer => "mtls_headers.verdict.unverified.issuer",
            Counter::UnverifiedPolicy => "mtls_headers.verdict.unverified.policy",
            Counter::Unreadable => "mtls_headers.verdict.unreadable",
            Counter::HeadersStripped => "mtls_headers.headers_stripped",
            Counter::CacheHit => "mtls_headers.identity_cache.hit",
            Counter::CacheMiss => "mtls_headers.identity_cache.miss",
            Counter::AuditWouldRefuse => "mtls_headers.audit.would_refuse",
            Counter::BudgetDropped => "mtls_headers.size_budget.dropped",
            Counter::Reply(d) => match d {
                details::CERTIFICATE_REQUIRED => "mtls_headers.reply.certificate_required",
                details::OWNED_HEADER_FROM_CLIENT => "mtls_headers.reply.owned_header_from_client",
                details::OWNED_HEADER_NOT_UTF8 => "mtls_headers.reply.owned_header_name_not_utf8",
                details::HEADERS_UNREADABLE => "mtls_headers.reply.request_headers_unreadable",
                details::HOST_UNKNOWN => "mtls_headers.reply.host_unknown",
                details::STRIP_FAILED => "mtls_headers.reply.strip_failed",
                details::INJECT_FAILED => "mtls_headers.reply.inject_failed",
                details::SIGN_FAILED => "mtls_headers.reply.sign_failed",
                _ => "mtls_headers.reply.not_configured",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_its_own_name() {
        let mut names: Vec<&str> = ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    /// README.md's "Metrics and audit" table names every counter.
    #[test]
    fn readme_lists_every_counter() {
        let readme = include_str!("../../README.md");
        for counter in ALL {
            let name = counter.name();
            let listed = match name.strip_prefix("mtls_headers.reply.") {
                Some(reason) => readme.contains(&format!("`{reason}`")),
                None => {
                    readme.contains(name) || readme.contains(&format!("`.{}`", name.rsplit('.').next().unwrap_or("")))
                }
            };
            assert!(listed, "README.md does not list {name}");
        }
    }
}

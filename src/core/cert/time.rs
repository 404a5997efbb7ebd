//! Certificate dates in OpenSSL's `ASN1_TIME_print` form, as nginx `$ssl_client_v_start` and Cloudflare's
//! `certNotBefore` show them: `Dec 22 19:39:00 2018 GMT`, day padded with a space (`Jan  2 ...`).

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

pub fn openssl_time(unix: u64) -> String {
    let (year, month, day, h, m, sec) = civil(unix);
    let name = MONTHS.get(usize::try_from(month.saturating_sub(1)).unwrap_or(0)).copied().unwrap_or("Jan");
    format!("{name} {day:>2} {h:02}:{m:02}:{sec:02} {year} GMT")
}

/// RFC 3339 section 5.6 in UTC: `2018-12-22T19:39:00Z`.
pub fn rfc3339(unix: u64) -> String {
    let (year, month, day, h, m, sec) = civil(unix);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z")
}

/// RFC 3339 with a numeric offset, as Google's load balancer writes it: `2018-12-22T19:39:00+00:00`.
pub fn rfc3339_offset(unix: u64) -> String {
    let mut s = rfc3339(unix);
    s.pop();
    s + "+00:00"
}

/// Unix seconds as UTC (year, month, day, hour, minute, second).
fn civil(unix: u64) -> (u64, u64, u64, u64, u64, u64) {
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(unix / 86_400);
    (year, month, day, secs / 3600, (secs % 3600) / 60, secs % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{openssl_time, rfc3339};

    #[test]
    fn formats_like_asn1_time_print() {
        assert_eq!(openssl_time(1_545_507_540), "Dec 22 19:39:00 2018 GMT");
        assert_eq!(openssl_time(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(openssl_time(951_782_400), "Feb 29 00:00:00 2000 GMT");
        assert_eq!(openssl_time(253_402_300_799), "Dec 31 23:59:59 9999 GMT");
    }

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(rfc3339(1_695_261_017), "2023-09-21T01:50:17Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
    }
}

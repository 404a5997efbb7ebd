//! Distinguished-name formatting: RFC 4514 / OpenSSL `-nameopt RFC2253`, and OpenSSL's legacy one-line form.
//! (stub: to be written)

use x509_cert::name::Name;

/// `openssl x509 -noout -subject -nameopt RFC2253` (utf8 = false) or `-nameopt RFC2253,-esc_msb` (utf8 = true).
pub fn rfc2253(_name: &Name, _utf8: bool) -> String {
    String::new()
}

/// OpenSSL `X509_NAME_oneline` form: `/C=JP/O=Example/CN=alice` (nginx `$ssl_client_s_dn_legacy`).
pub fn legacy(_name: &Name) -> String {
    String::new()
}

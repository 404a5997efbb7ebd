"""Expected field values of a certificate, computed by OpenSSL itself (the CLI, and libcrypto through ctypes for the
legacy one-line DN), never by the code under test. Where the filter's header differs from OpenSSL's text by a rule
README.md documents (edge spaces, SAN lists), the `*_header` helpers apply that rule to OpenSSL's output, with
Python's own percent-encoding and IPv6 text."""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import functools
import ipaddress
import re
import subprocess
from pathlib import Path
from urllib.parse import quote


def _x509(cert: Path, *args: str) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", *args], check=True, capture_output=True
    ).stdout
    # Only the final newline goes: a DN or value may end in a space, which the filter escapes.
    return out.decode("utf-8").rstrip("\n")


def _after(text: str, prefix: str) -> str:
    assert text.startswith(prefix), (text, prefix)
    return text[len(prefix):]


def dn(cert: Path, which: str = "subject", utf8: bool = False) -> str:
    """RFC 2253 as `openssl x509 -nameopt RFC2253` prints it (utf8: `RFC2253,-esc_msb`, raw UTF-8)."""
    nameopt = "RFC2253,-esc_msb" if utf8 else "RFC2253"
    return _after(_x509(cert, f"-{which}", "-nameopt", nameopt), f"{which}=")


def dn_header(cert: Path, which: str = "subject", utf8: bool = False) -> str:
    """`subject_dn` / `issuer_dn`: OpenSSL's RFC 2253 text, but a final escaped space `\\ ` as `\\20`."""
    text = dn(cert, which, utf8)
    return text[:-1] + "20" if text.endswith("\\ ") else text


@functools.lru_cache(maxsize=None)
def _libcrypto() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
    vp = ctypes.c_void_p
    lib.BIO_new_mem_buf.restype, lib.BIO_new_mem_buf.argtypes = vp, [ctypes.c_char_p, ctypes.c_int]
    lib.PEM_read_bio_X509.restype, lib.PEM_read_bio_X509.argtypes = vp, [vp, vp, vp, vp]
    lib.X509_get_subject_name.restype, lib.X509_get_subject_name.argtypes = vp, [vp]
    lib.X509_get_issuer_name.restype, lib.X509_get_issuer_name.argtypes = vp, [vp]
    lib.X509_NAME_oneline.restype = ctypes.c_char_p
    lib.X509_NAME_oneline.argtypes = [vp, ctypes.c_char_p, ctypes.c_int]
    lib.X509_free.argtypes, lib.BIO_free.argtypes = [vp], [vp]
    return lib


def dn_legacy_header(cert: Path, which: str = "subject") -> str:
    """`subject_dn_legacy` / `issuer_dn_legacy`: X509_NAME_oneline's text, but a final space as `\\x20`."""
    text = dn_legacy(cert, which)
    return text[:-1] + "\\x20" if text.endswith(" ") else text


def dn_legacy(cert: Path, which: str = "subject") -> str:
    """OpenSSL's X509_NAME_oneline: `/C=JP/O=\\xE5\\xB1.../CN=...` (nginx `$ssl_client_s_dn_legacy`)."""
    lib = _libcrypto()
    pem = Path(cert).read_bytes()
    bio = lib.BIO_new_mem_buf(pem, len(pem))
    x509 = lib.PEM_read_bio_X509(bio, None, None, None)
    assert x509, f"cannot read {cert}"
    try:
        name = lib.X509_get_subject_name(x509) if which == "subject" else lib.X509_get_issuer_name(x509)
        buf = ctypes.create_string_buffer(16384)
        return lib.X509_NAME_oneline(name, buf, len(buf)).decode("latin-1")
    finally:
        lib.X509_free(x509)
        lib.BIO_free(bio)


def attribute(cert: Path, attr: str, which: str = "subject", utf8: bool = False, index: int = 0) -> str | None:
    """The `attr` at `index` (0: the first) in DER order, escaped as the filter writes attribute values: `\\` as `\\\\`, controls and
    (unless utf8) bytes >= 0x80 as `\\XX`, commas as they are (OpenSSL esc_ctrl/esc_msb without esc_2253), and every
    space of a leading or trailing run of spaces and tabs (`\\09` by then) as `\\20`."""
    flags = "sep_multiline,sname,esc_ctrl,utf8" + ("" if utf8 else ",esc_msb")
    lines = _x509(cert, f"-{which}", "-nameopt", flags).splitlines()[1:]
    for line in lines:
        # Each line is four spaces of indentation, then `key=value` with the value as it is.
        key, _, value = line.lstrip(" ").partition("=")
        if key == attr and index > 0:
            index -= 1
        elif key == attr:
            lead, middle, trail = re.fullmatch(r"((?: |\\09)*)(.*?)((?: |\\09)*)", value, re.S).groups()
            return lead.replace(" ", "\\20") + middle + trail.replace(" ", "\\20")
    return None


def serial(cert: Path) -> str:
    return _after(_x509(cert, "-serial"), "serial=")


def fingerprint(cert: Path, digest: str) -> str:
    text = _x509(cert, "-fingerprint", f"-{digest}")
    return text.split("=", 1)[1].replace(":", "").lower()


def serial_decimal(cert: Path) -> str:
    return str(int(serial(cert), 16))


def serial_colon(cert: Path) -> str:
    """The serial as `openssl x509 -text` prints one too large for a long: the line after `Serial Number:`."""
    lines = _x509(cert, "-text").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "Serial Number:")
    return lines[at + 1].strip()


def fingerprint_colon(cert: Path, digest: str) -> str:
    return _x509(cert, "-fingerprint", f"-{digest}").split("=", 1)[1]


def fingerprint_base64(cert: Path, digest: str) -> str:
    return base64.b64encode(bytes.fromhex(fingerprint(cert, digest))).decode()


def x5t_s256(cert: Path) -> str:
    """RFC 8705 section 3.1: base64url of the DER's SHA-256, no padding."""
    return base64.urlsafe_b64encode(bytes.fromhex(fingerprint(cert, "sha256"))).decode().rstrip("=")


def pin_sha256(cert: Path) -> str:
    """RFC 7469 section 2.4 (its appendix A recipe): SHA-256 of the SubjectPublicKeyInfo DER, base64."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                          capture_output=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=spki, check=True,
                            capture_output=True).stdout
    return base64.b64encode(digest).decode()


def unix_time(openssl_time: str) -> int:
    """`Dec 22 19:39:00 2018 GMT` as Unix seconds."""
    import calendar
    import time
    return calendar.timegm(time.strptime(openssl_time, "%b %d %H:%M:%S %Y GMT"))


def rfc3339(openssl_time: str) -> str:
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.strptime(openssl_time, "%b %d %H:%M:%S %Y GMT"))


def der(cert: Path) -> bytes:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-outform", "DER"], check=True, capture_output=True
    ).stdout


def leaf_pem(cert: Path) -> str:
    """The leaf's PEM as OpenSSL wrote it (64-character lines, a final newline): what nginx and Envoy encode. The
    file's first block: dave.crt goes on with its chain."""
    text = cert.read_text()
    end = "-----END CERTIFICATE-----\n"
    return text[: text.index(end) + len(end)]


def pem(der_bytes: bytes) -> str:
    """A certificate's PEM as OpenSSL writes it."""
    b64 = base64.b64encode(der_bytes).decode()
    lines = "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}-----END CERTIFICATE-----\n"


def presented(cert: Path) -> list[bytes]:
    """The certificates the test clients (Python's ssl, curl: both OpenSSL) present for `cert`, leaf first, as DER:
    every certificate in the file; a file with the leaf alone gets the trusted CA that issued it after it, since
    OpenSSL completes a client's chain from its trust store when the file holds none (measured on real Envoy:
    test_envoy.py's test_envoy_chain_is_what_the_test_clients_present)."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", cert.read_text(), re.S)
    ders = [base64.b64decode("".join(b.splitlines()[1:-1])) for b in blocks]
    ca = cert.parent / "ca.crt"
    if len(ders) == 1 and dn(cert, "issuer") == dn(ca, "subject"):
        ders.append(der(ca))
    return ders


def der_base64(cert: Path) -> str:
    return base64.b64encode(der(cert)).decode()


def not_before(cert: Path) -> str:
    return _after(_x509(cert, "-startdate"), "notBefore=")


def not_after(cert: Path) -> str:
    return _after(_x509(cert, "-enddate"), "notAfter=")


# Visible ASCII but `%` and `,`: what the filter leaves unencoded in a SAN list element.
_SAN_SAFE = "".join(chr(b) for b in range(0x21, 0x7F) if chr(b) not in "%,")


def san_header(values: list[str]) -> str:
    """`san_dns`, `san_uri`, `san_email`: each value percent-encoded (UTF-8) but for _SAN_SAFE, joined with `,`."""
    return ",".join(quote(v, safe=_SAN_SAFE) for v in values)


def ip_header(values: list[str]) -> str:
    """`san_ip`: OpenSSL's `0:0:0:0:0:0:0:1` as RFC 5952 text (Python's ipaddress: `::1`), joined with `,`."""
    return ",".join(str(ipaddress.ip_address(v)) for v in values)


def sans(cert: Path) -> dict[str, list[str]]:
    """{"dns", "uri", "email", "ip", "upn", "dirname"} lists in certificate order (openssl -ext output). A
    directoryName comes as OpenSSL's `/CN=a/O=b` one-line text; "dirname" holds it in RFC 2253 order (`O=b,CN=a`),
    right for names without characters either form escapes."""
    text = _x509(cert, "-ext", "subjectAltName")
    kinds = {"DNS": "dns", "URI": "uri", "email": "email", "IP Address": "ip"}
    out: dict[str, list[str]] = {k: [] for k in [*kinds.values(), "upn", "dirname"]}
    for line in text.splitlines()[1:]:
        for entry in line.strip().split(", "):
            kind, _, value = entry.partition(":")
            if kind in kinds:
                out[kinds[kind]].append(value)
            elif entry.startswith("othername: UPN::"):
                out["upn"].append(_after(entry, "othername: UPN::"))
            elif kind == "DirName":
                out["dirname"].append(",".join(reversed(value.strip("/").split("/"))))
    return out


def _tlvs(data: bytes) -> list[bytes]:
    """The DER TLVs one after another in `data` (test-side: enough of X.690 for a certificate's top levels)."""
    out, i = [], 0
    while i < len(data):
        length, head = data[i + 1], 2
        if length & 0x80:
            n = length & 0x7F
            length, head = int.from_bytes(data[i + 2:i + 2 + n], "big"), 2 + n
        out.append(data[i:i + head + length])
        i += head + length
    return out


def _content(tlv: bytes) -> bytes:
    return tlv[(2 + (tlv[1] & 0x7F) if tlv[1] & 0x80 else 2):]


def name_der(cert: Path, which: str = "subject") -> bytes:
    """The issuer or subject Name's DER, cut out of the certificate's TBSCertificate (RFC 5280 section 4.1)."""
    tbs = _tlvs(_content(_tlvs(der(cert))[0]))[0]
    fields = _tlvs(_content(tbs))
    if fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject
    return fields[2] if which == "issuer" else fields[4]

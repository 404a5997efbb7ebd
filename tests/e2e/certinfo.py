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


def attribute(cert: Path, attr: str, which: str = "subject", utf8: bool = False) -> str | None:
    """The first `attr` in DER order, escaped as the filter writes attribute values: `\\` as `\\\\`, controls and
    (unless utf8) bytes >= 0x80 as `\\XX`, commas as they are (OpenSSL esc_ctrl/esc_msb without esc_2253), and every
    space of a leading or trailing run of spaces and tabs (`\\09` by then) as `\\20`."""
    flags = "sep_multiline,sname,esc_ctrl,utf8" + ("" if utf8 else ",esc_msb")
    lines = _x509(cert, f"-{which}", "-nameopt", flags).splitlines()[1:]
    for line in lines:
        # Each line is four spaces of indentation, then `key=value` with the value as it is.
        key, _, value = line.lstrip(" ").partition("=")
        if key == attr:
            lead, middle, trail = re.fullmatch(r"((?: |\\09)*)(.*?)((?: |\\09)*)", value, re.S).groups()
            return lead.replace(" ", "\\20") + middle + trail.replace(" ", "\\20")
    return None


def serial(cert: Path) -> str:
    return _after(_x509(cert, "-serial"), "serial=")


def fingerprint(cert: Path, digest: str) -> str:
    text = _x509(cert, "-fingerprint", f"-{digest}")
    return text.split("=", 1)[1].replace(":", "").lower()


def der(cert: Path) -> bytes:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-outform", "DER"], check=True, capture_output=True
    ).stdout


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
    """{"dns": [...], "uri": [...], "email": [...], "ip": [...]} in certificate order (openssl -ext output)."""
    text = _x509(cert, "-ext", "subjectAltName")
    kinds = {"DNS": "dns", "URI": "uri", "email": "email", "IP Address": "ip"}
    out: dict[str, list[str]] = {k: [] for k in kinds.values()}
    for line in text.splitlines()[1:]:
        for entry in line.strip().split(", "):
            kind, _, value = entry.partition(":")
            if kind in kinds:
                out[kinds[kind]].append(value)
    return out

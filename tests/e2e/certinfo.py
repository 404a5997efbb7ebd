"""Expected field values of a certificate, computed by OpenSSL itself (the CLI, and libcrypto through ctypes for the
legacy one-line DN), never by the code under test."""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import functools
import subprocess
from pathlib import Path


def _x509(cert: Path, *args: str) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", *args], check=True, capture_output=True
    ).stdout
    return out.decode("utf-8").strip()


def _after(text: str, prefix: str) -> str:
    assert text.startswith(prefix), (text, prefix)
    return text[len(prefix):]


def dn(cert: Path, which: str = "subject", utf8: bool = False) -> str:
    """RFC 2253 as `openssl x509 -nameopt RFC2253` prints it (utf8: `RFC2253,-esc_msb`, raw UTF-8)."""
    nameopt = "RFC2253,-esc_msb" if utf8 else "RFC2253"
    return _after(_x509(cert, f"-{which}", "-nameopt", nameopt), f"{which}=")


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
    (unless utf8) bytes >= 0x80 as `\\XX`, commas as they are (OpenSSL esc_ctrl/esc_msb without esc_2253)."""
    flags = "sep_multiline,sname,esc_ctrl,utf8" + ("" if utf8 else ",esc_msb")
    lines = _x509(cert, f"-{which}", "-nameopt", flags).splitlines()[1:]
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == attr:
            return value
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

#!/usr/bin/env bash
# Test PKI for the end-to-end tests and the demo (openssl CLI only, P-256 keys: about half a second).
#
#   scripts/gen-certs.sh OUTDIR
#
# OUTDIR gets ca.crt/.key, server.crt/.key, the intermediate CA inter.crt/.key, the client certificates alice, bob,
# carol, dave, large, inject, odd, expired, rogue (.crt/.key), plus rogue-ca.crt/.key. Idempotent: an OUTDIR that is already complete is left as it is; otherwise everything is
# generated in a temporary directory and moved in, so a half-written PKI is never seen.
#
#   ca        CN=mtls-headers Test CA,O=mtls-headers (the trusted CA)
#   server    CN=localhost, SAN DNS:localhost, IP:127.0.0.1
#   alice     UTF-8 O and CN, an OU with a comma, UID, serialNumber, emailAddress, four kinds of SAN and a 20-byte
#             serial: the cases where DN printing and header values go wrong
#   bob       CN=bob,O=Example, serial 1001
#   carol     two OUs, a 10-byte DER serial (leading zero), an otherName UPN SAN, a directoryName SAN, a DNS and a SPIFFE URI SAN
#   inter     CN=mtls-headers Intermediate CA, signed by ca (pathLen 0)
#   dave      CN=dave,O=Example, signed by inter: dave.crt holds dave's certificate then inter's, the chain the client
#             presents (RFC 8446 section 4.4.2 order), so a verifier needs inter from the client
#   large     a subject of ten 60-character OUs and forty DNS SANs: over Google's 512-byte limits, and large headers
#   inject    a URI SAN with `;` and `=` (`https://ok.example/?a=1;Hash=00`): raw in Envoy's own XFCC, it adds a field
#   odd       values HTTP or a comma split would misread: O "Example " and CN " admin " (edge spaces), a URI SAN with a
#             comma before a SPIFFE-looking tail, a UTF-8 (not IA5) DNS SAN `café.example`, IPv6 ::1
#   expired   signed by the CA, valid only in 2020 (openssl ca: OpenSSL 3.0 `x509 -req` cannot set notBefore)
#   rogue     signed by rogue-ca, which nobody trusts; claims CN=admin,UID=admin
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$(mkdir -p "$1" && cd "$1" && pwd)  # absolute: the work below happens in a temporary directory
files=(ca server inter alice bob carol dave large inject odd expired rogue-ca rogue)

complete=1
for name in "${files[@]}"; do
  [[ -s "$out/$name.crt" && -s "$out/$name.key" ]] || complete=0
done
if [[ $complete -eq 1 ]]; then
  exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# A request (or, with -x509, a self-signed certificate) with a fresh P-256 key.
new() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -utf8 "$@" 2>/dev/null; }
# sign NAME CA SERIAL EXTENSIONS: NAME.csr -> NAME.crt, ten years.
sign() {
  printf '%s\n' "$4" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -set_serial "$3" -days 3650 -sha256 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
ca_ext='-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign'
client_ext=$'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'

# shellcheck disable=SC2086 # ca_ext is a list of options
new -x509 -days 3650 -sha256 -keyout ca.key -out ca.crt -subj "/O=mtls-headers/CN=mtls-headers Test CA" $ca_ext
# shellcheck disable=SC2086
new -x509 -days 3650 -sha256 -keyout rogue-ca.key -out rogue-ca.crt -subj "/O=rogue/CN=Rogue CA" $ca_ext

new -keyout server.key -out server.csr -subj "/CN=localhost"
sign server ca 0x5e5e $'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'\
$'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1'

# In -subj, `/` separates attributes; the comma in the OU is literal (RFC 2253 prints it as `Dev\, Ops`).
new -keyout alice.key -out alice.csr \
  -subj "/C=JP/O=山田商事/OU=Dev, Ops/CN=山田太郎/UID=alice/serialNumber=A-1234/emailAddress=alice@example.com"
# 20 bytes, the most RFC 5280 allows; first byte below 0x80, so the DER INTEGER needs no leading zero.
sign alice ca 0x3FA1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3 "$client_ext"$'\n'\
'subjectAltName=DNS:alice.example.com,URI:spiffe://example.org/ns/prod/sa/alice,email:alice@example.com,IP:192.0.2.10'

new -keyout bob.key -out bob.csr -subj "/O=Example/CN=bob"
sign bob ca 0x1001 "$client_ext"

new -keyout carol.key -out carol.csr -subj "/O=Example/OU=Eng/OU=Platform/CN=carol"
sign carol ca 0xC0FFEE0123456789AB "$client_ext"$'\nsubjectAltName=@alt\n[alt]\n'\
$'otherName.1=1.3.6.1.4.1.311.20.2.3;UTF8:carol@corp.example\ndirName.1=dir\nDNS.1=carol.example\n'\
$'URI.1=spiffe://example.org/ns/prod/sa/carol\n[dir]\nCN=Carol Admin\nO=Example Org'

inter_ext=$'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign'
new -keyout inter.key -out inter.csr -subj "/O=mtls-headers/CN=mtls-headers Intermediate CA"
sign inter ca 0x1717 "$inter_ext"
new -keyout dave.key -out dave.csr -subj "/O=Example/CN=dave"
sign dave inter 0xda7e "$client_ext"
cat inter.crt >>dave.crt

ous=""
sans="subjectAltName=DNS:large.example"
for i in $(seq 10); do ous+="/OU=$(printf 'unit-%02d-%054d' "$i" 0)"; done
for i in $(seq 40); do sans+=",DNS:host-$i.large.example"; done
new -keyout large.key -out large.csr -subj "/O=Example$ous/CN=large"
sign large ca 0x1a7e "$client_ext"$'\n'"$sans"

new -keyout inject.key -out inject.csr -subj "/O=Example/CN=inject"
sign inject ca 0x1e1e "$client_ext"$'\nsubjectAltName=@alt\n[alt]\nURI.1=https://ok.example/?a=1;Hash=00\nDNS.1=inject.example'

# A SAN section, since the URI's comma would end an inline subjectAltName entry.
new -keyout odd.key -out odd.csr -subj "/O=Example /CN= admin "
sign odd ca 0x0dd "$client_ext"$'\nsubjectAltName=@alt\n[alt]\nDNS.1=café.example\nDNS.2=ok.example\n'\
$'URI.1=https://ok.example/p,spiffe://example.org/ns/prod/sa/admin\nIP.1=::1'

new -keyout rogue.key -out rogue.csr -subj "/O=mtls-headers/CN=admin/UID=admin"
sign rogue rogue-ca 0x0bad "$client_ext"

# expired: `openssl ca` is the one OpenSSL 3.0 command that takes an explicit start date.
new -keyout expired.key -out expired.csr -subj "/O=Example/CN=expired"
mkdir ca-db
: >ca-db/index.txt
echo 0E0E >ca-db/serial
printf '%s\n' "$client_ext" >expired.ext
cat >ca.cnf <<EOF
[ca]
default_ca = test_ca
[test_ca]
dir = $tmp/ca-db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
unique_subject = no
[any]
organizationName = optional
commonName = supplied
EOF
openssl ca -batch -notext -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt \
  -startdate 20200101000000Z -enddate 20210101000000Z -extfile expired.ext 2>/dev/null

chmod 600 ./*.key
for name in "${files[@]}"; do
  mv -f "$name.key" "$name.crt" "$out/"
done

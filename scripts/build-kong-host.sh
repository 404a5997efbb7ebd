#!/usr/bin/env bash
# Builds Kong 3.9.3's proxy-wasm host once into a project-local cache: nginx 1.25.3 with Kong's nginx patches,
# ngx_wasm_module 9136e463 on the Wasmtime 26.0.0 C API, and the OpenResty pieces Kong attaches filters with
# (LuaJIT 2.1-20231117, ngx_devel_kit 0.3.3, lua-nginx-module 0.10.26, lua-resty-core 0.1.28,
# lua-resty-lrucache 0.13, ngx_wasm_module's lib/resty/wasmx). Kong's own Lua is not built: its dependencies come
# from LuaRocks, which our machines cannot reach.
#
# Usage: scripts/build-kong-host.sh PREFIX     (the Makefile passes .tools/kong-host/<pins>)
# Sources: $MTLS_VENDOR_DIR, else ../shared/vendor beside the repository, checked against its SHA256SUMS; without
# either, the same pinned commits are downloaded from their upstream repositories (then compare commits: an archive
# GitHub makes may not match the checksum byte for byte).
set -euo pipefail
start=$(date +%s)
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(mkdir -p "$1" && cd "$1" && pwd)
vendor=${MTLS_VENDOR_DIR:-$repo/../shared/vendor}
work=$prefix/src
jobs=$(nproc)

# tarball -> upstream repository and commit (the pins of Kong 3.9.3's .requirements and OpenResty 1.25.3.2).
declare -A COMMIT=(
  [nginx-1.25.3]="nginx/nginx b8fb83b8d2e7ca03d43176b767f1fc657f1c1ee2"
  [ngx_wasm_module-9136e463]="Kong/ngx_wasm_module 9136e463a6f1d80755ce66c88c3ddecd0eb5e25d"
  [lua-nginx-module-0.10.26]="openresty/lua-nginx-module 0e769b76432df91e5f10aa56a56858e8a190faf7"
  [luajit2-2.1-20231117]="openresty/luajit2 4182d6bf37e9f8d1cb5d6e83b1db66de84b95101"
  [ngx_devel_kit-0.3.3]="vision5/ngx_devel_kit 91e30eb05085e7f9762f130cbb883a0e753cf74d"
  [lua-resty-core-0.1.28]="openresty/lua-resty-core 812b2d3871eb0d8da8f0198759ad9164f0eccac6"
  [lua-resty-lrucache-0.13]="openresty/lua-resty-lrucache a79615ec9dc547fdb4aaee59ef8f5a50648ce9fd"
  [kong-3.9.3-openresty-patches-and-wasm-runloop]="Kong/kong a643428bc4d5397152164a63bcc0f8bc65fce69d"
)

echo "== Debian packages"
need=()
for p in build-essential cmake libpcre2-dev libssl-dev zlib1g-dev patch curl; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

echo "== sources into $work"
rm -rf "$work" && mkdir -p "$work/tar"
for name in "${!COMMIT[@]}"; do
  tarball=$name.tar.gz
  if [ -f "$vendor/$tarball" ]; then
    (cd "$vendor" && grep " $tarball\$" SHA256SUMS | sha256sum -c --quiet -)
    cp "$vendor/$tarball" "$work/tar/"
  else
    read -r gh commit <<<"${COMMIT[$name]}"
    echo "   $tarball not in $vendor: downloading $gh@$commit"
    curl -fsSL -o "$work/tar/$tarball" "https://github.com/$gh/archive/$commit.tar.gz"
  fi
  mkdir -p "$work/$name"
  tar -xzf "$work/tar/$tarball" -C "$work/$name" --strip-components=1
done

# Kong's patches name files under bundle/<component>/ (hence -p3); those for OpenResty pieces not built here, or
# already in these releases, do not apply and are listed.
apply_patches() { # component directory, patch file prefix
  for p in "$work"/kong-3.9.3-openresty-patches-and-wasm-runloop/build/openresty/patches/"$2"_*.patch; do
    if (cd "$1" && patch -p3 --forward --silent --dry-run <"$p" >/dev/null 2>&1); then
      (cd "$1" && patch -p3 --forward --silent <"$p")
      echo "   applied     $(basename "$p")"
    else
      echo "   not applied $(basename "$p")"
    fi
  done
}
echo "== Kong 3.9.3's patches to nginx and lua-nginx-module"
apply_patches "$work/nginx-1.25.3" nginx-1.25.3
apply_patches "$work/lua-nginx-module-0.10.26" ngx_lua-0.10.26

echo "== Wasmtime 26.0.0 C API (crates.io wasmtime-c-api-impl, static)"
wt=$prefix/wasmtime
mkdir -p "$wt/lib" "$wt/include"
cargo build --release --locked --manifest-path "$repo/scripts/kong-host/wasmtime-capi/Cargo.toml" \
  --target-dir "$(dirname "$prefix")/wasmtime-target"
cp "$(dirname "$prefix")/wasmtime-target/release/libwasmtime.a" "$wt/lib/"
capi=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wasmtime-c-api-impl-26.0.0 | sed -n 1p)
cp -r "$capi/include/." "$wt/include/"
# The newest: an earlier build with other features leaves its own conf.h beside it.
conf=$(ls -t $(find "$(dirname "$prefix")/wasmtime-target/release/build" -path '*wasmtime-c-api-impl-*/out/include/wasmtime/conf.h') | sed -n 1p)
cp "$conf" "$wt/include/wasmtime/conf.h"
# The generated conf.h leaves WASMTIME_FEATURE_WAT undefined although the library has wat2wasm and
# ngx_wasm_module calls wasmtime_wat2wasm.
grep -q '^#define WASMTIME_FEATURE_WAT' "$wt/include/wasmtime/conf.h" ||
  sed -i 's|^#endif // WASMTIME_CONF_H|#define WASMTIME_FEATURE_WAT\n#endif // WASMTIME_CONF_H|' "$wt/include/wasmtime/conf.h"
grep -q '^#define WASMTIME_FEATURE_WAT' "$wt/include/wasmtime/conf.h"

echo "== LuaJIT"
make -s -C "$work/luajit2-2.1-20231117" -j"$jobs" PREFIX="$prefix/luajit" XCFLAGS='-DLUAJIT_ENABLE_GC64' >/dev/null
make -s -C "$work/luajit2-2.1-20231117" install PREFIX="$prefix/luajit" >/dev/null

echo "== nginx"
cd "$work/nginx-1.25.3"
export LUAJIT_LIB=$prefix/luajit/lib LUAJIT_INC=$prefix/luajit/include/luajit-2.1
export NGX_WASM_RUNTIME=wasmtime NGX_WASM_RUNTIME_INC=$wt/include
export NGX_WASM_RUNTIME_LD_OPT="$wt/lib/libwasmtime.a -ldl -lm -lpthread"
# ngx_wasm_module's Lua bridge (resty.wasmx) needs lua-nginx-module added before it, and its headers.
./auto/configure --prefix="$prefix" \
  --with-cc-opt="-O2 -Wno-error -I $work/lua-nginx-module-0.10.26/src" \
  --with-ld-opt="-Wl,-rpath,$prefix/luajit/lib" \
  --with-http_ssl_module --with-http_v2_module \
  --add-module="$work/ngx_devel_kit-0.3.3" \
  --add-module="$work/lua-nginx-module-0.10.26" \
  --add-module="$work/ngx_wasm_module-9136e463" >"$prefix/configure.log" 2>&1 ||
  { tail -30 "$prefix/configure.log"; exit 1; }
make -s -j"$jobs" >"$prefix/make.log" 2>&1 || { tail -40 "$prefix/make.log"; exit 1; }
make -s install >/dev/null

echo "== Lua libraries"
mkdir -p "$prefix/lualib"
cp -r "$work/lua-resty-core-0.1.28/lib/." "$prefix/lualib/"
cp -r "$work/lua-resty-lrucache-0.13/lib/." "$prefix/lualib/"
cp -r "$work/ngx_wasm_module-9136e463/lib/resty/." "$prefix/lualib/resty/"
mkdir -p "$prefix/kong"
cp -r "$work/kong-3.9.3-openresty-patches-and-wasm-runloop/kong/." "$prefix/kong/"

"$prefix/sbin/nginx" -V 2>&1 | sed -n 1,3p  # not head: SIGPIPE under pipefail
rm -rf "$work"
echo "kong host built in $(( $(date +%s) - start )) s"

#!/usr/bin/env python3
"""`make profile-kong`: where the filter's own time goes on Kong's real proxy-wasm host, per request and function.

`make bench-kong` compares whole arms, and on a noisy machine a 1 to 3 µs difference drowns in its repeats. Here one
nginx under test (bench_kong.py's configuration and arms, with `wasm { wasmtime { flag profiler perfmap; } }`, so
perf can name the functions Wasmtime compiled) runs each arm under oha while `perf record` samples that one process.
The filter is built with its function names (`CARGO_PROFILE_RELEASE_STRIP=false`, no wasm-opt; the Makefile does it
into target/profile). Per arm it prints the nginx CPU per request and the share of it spent in Wasm, in µs, with the
largest functions, then each arm's Wasm functions against the first arm's. Sampling shares within one process are
what stays steady when the machine's speed drifts; the absolute µs move with it.

    .venv/bin/python tests/bench/profile_kong.py --wasm target/profile/.../mtls_headers.wasm [--arms d,k,k2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402
import bench_kong  # noqa: E402
from bench import BenchError, LoadSpec  # noqa: E402

import echo  # noqa: E402
import harness  # noqa: E402
import ngxhost  # noqa: E402

PERF_LINE = re.compile(r"\s*([\d.]+)%\s+(\S.*?)\s+\[(.)\]\s+(.*)$")
# Rust's symbol hash suffix, which differs between builds of the same function.
HASH = re.compile(r"::h[0-9a-f]{16}")


def perf_shares(data: Path) -> dict[tuple[str, str], float]:
    """Per (dso, symbol), its share (0..1) of the samples; every Wasmtime-compiled function's dso is `wasm`."""
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,sym", "-g", "none", "--stdio"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if report.returncode != 0:
        raise BenchError(f"perf report failed: {report.stderr[-2000:]}")
    shares: dict[tuple[str, str], float] = {}
    for line in report.stdout.splitlines():
        m = PERF_LINE.match(line)
        if not m:
            continue
        pct, dso, _, sym = m.groups()
        key = ("wasm" if "JIT" in dso or dso.startswith("perf-") else dso, HASH.sub("", sym.strip()))
        shares[key] = shares.get(key, 0.0) + float(pct) / 100
    return shares


def profile_arm(args, arm, port: int, certs: Path, tested: bench_kong.PinnedNginx, work: Path) -> dict:
    """oha on the arm for warm-up + window + 1 s; perf samples the tested nginx for the window in the middle."""
    total = args.warmup + args.window + 1.0
    cmd = bench.oha_command(args.oha, args.load_core, port, certs, LoadSpec(total, None, args.connections, []),
                            random_path=arm.random_path)
    oha = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(args.warmup)
    data = work / f"perf-{arm.key}.data"
    cpu0, t0 = tested.cpu_seconds(), time.monotonic()
    record = subprocess.run(
        ["perf", "record", "-F", str(args.frequency), "-p", str(tested.pid()), "-o", str(data), "--", "sleep",
         f"{args.window:g}"],
        capture_output=True,
        text=True,
        timeout=args.window + 60,
    )
    cpu, wall = tested.cpu_seconds() - cpu0, time.monotonic() - t0
    out, err = oha.communicate(timeout=total + 60)
    if record.returncode != 0:
        raise BenchError(f"perf record failed (is perf installed, and may this user trace?): {record.stderr[-2000:]}")
    r = bench.parse_oha(json.loads(out or "{}"))
    if r["ok"] == 0 or r["ok"] != sum(r["status_codes"].values()):
        raise BenchError(f"arm {arm.key}: oha got {r['status_codes']} {r['errors']} {err[-500:]}")
    us_per_req = cpu / (r["ok_rps"] * wall) * 1e6
    shares = perf_shares(data)
    return {"arm": arm, "us_per_req": us_per_req, "us": {k: v * us_per_req for k, v in shares.items()}}


def wasm_total(p: dict) -> float:
    return sum(v for (dso, _), v in p["us"].items() if dso == "wasm")


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wasm", type=Path, required=True, help="the filter built with function names")
    p.add_argument("--arms", default="d,k,k2", help="comma-separated bench_kong.py arms (default d,k,k2)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before sampling (default 2)")
    p.add_argument("--window", type=float, default=7.0, help="seconds sampled per arm (default 7)")
    p.add_argument("--frequency", type=int, default=2000, help="perf samples per second (default 2000)")
    p.add_argument("--connections", type=int, default=64, help="oha -c (default 64)")
    p.add_argument("--top", type=int, default=12, help="functions shown per arm (default 12)")
    p.add_argument("--nginx-core", type=int, default=0)
    p.add_argument("--load-core", type=int, default=1)
    p.add_argument("--oha", type=Path, default=Path(os.environ.get("OHA") or bench.OHA))
    args = p.parse_args(argv)
    keys = [k.strip() for k in args.arms.split(",") if k.strip()]
    unknown = [k for k in keys if k not in bench_kong.ARM]
    if unknown or not keys:
        p.error(f"--arms: unknown {unknown}; choose from {','.join(bench_kong.ARM)}")
    if shutil.which("perf") is None:
        raise BenchError("perf is missing: `apt-get install linux-perf` (make profile-kong installs it)")
    for path in (args.wasm, bench.WASM_NOOP, args.oha):
        if not path.exists():
            raise BenchError(f"{path} is missing: run `make profile-kong`")
    # bench_kong.py's configuration, with this filter and Wasmtime's perf map.
    bench.WASM_FILTER = args.wasm.resolve()
    arms = [bench_kong.ARM[k] for k in keys]
    binary = ngxhost.nginx_binary()
    os.sched_setaffinity(0, {args.load_core})
    work = Path(tempfile.mkdtemp(prefix="mtls-profile-kong-"))
    certs = harness.gen_certs(work / "certs")
    echo_server = echo.start()
    upstream: Optional[bench_kong.PinnedNginx] = None
    tested: Optional[bench_kong.PinnedNginx] = None
    try:
        up_port = harness.free_port()
        root = binary.parent.parent
        up_conf = bench_kong.upstream_conf(work / "upstream", root, up_port)
        upstream = bench_kong.PinnedNginx(binary, work / "upstream", up_conf, [up_port], args.load_core).start()
        ports = {a.key: harness.free_port() for a in arms}
        conf = bench_kong.tested_conf(work / "tested", root, certs, arms, ports, up_port, echo_server.port)
        marker = f"module noop {bench.WASM_NOOP};\n"
        if marker not in conf:
            raise BenchError("bench_kong.tested_conf's wasm block changed: cannot add the perf map flag")
        conf = conf.replace(marker, marker + "    wasmtime { flag profiler perfmap; }\n")
        tested = bench_kong.PinnedNginx(binary, work / "tested", conf, list(ports.values()), args.nginx_core).start()
        profiles = []
        for arm in arms:
            prof = profile_arm(args, arm, ports[arm.key], certs, tested, work)
            profiles.append(prof)
            wasm = sorted(((v, s) for (dso, s), v in prof["us"].items() if dso == "wasm"), reverse=True)
            print(f"\n({arm.key}) {arm.title}: nginx CPU {prof['us_per_req']:.1f} µs/req, of which Wasm "
                  f"{wasm_total(prof):.2f}")
            for v, s in wasm[: args.top]:
                print(f"  {v:6.3f}  {s[:110]}")
        base = profiles[0]
        for prof in profiles[1:]:
            print(f"\n({prof['arm'].key}) − ({base['arm'].key}): Wasm {wasm_total(prof) - wasm_total(base):+.2f} µs/req "
                  f"(nginx CPU {prof['us_per_req'] - base['us_per_req']:+.1f}, which drifts with the machine)")
            names = {s for (dso, s) in (*prof["us"], *base["us"]) if dso == "wasm"}
            delta = sorted(((prof["us"].get(("wasm", s), 0) - base["us"].get(("wasm", s), 0), s) for s in names),
                           reverse=True)
            for v, s in delta[: args.top]:
                print(f"  {v:+6.3f}  {s[:110]}")
    finally:
        for proc in (tested, upstream):
            if proc is not None:
                proc.stop()
        echo_server.stop()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"profile-kong: {e}", file=sys.stderr)
        sys.exit(1)

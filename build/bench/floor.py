#!/usr/bin/env python3
"""How far any relay can go on this machine: the originals, ours and minimal C relays
(build/bench/floor/minimal-relay.c for TCP, minimal-udp-relay.c for UDP: one epoll thread each,
nothing else) side by side.

    build/bench/floor.py [--rounds N] [--seconds S] [--ours PATH]

Measures, interleaved (every round runs every column in turn, the first column rotating):
64-byte request/response over 16 TCP connections (requests/s), connect + one round trip + close
with 16 clients (connections/s), both from build/bench/LoadGen against its echo backend, and
iperf3 -P 4 through the relay (Gbit/s); 64-byte UDP request/response with 64 clients (one
LoadGen thread, requests/s); also the relay's CPU per request or per connection
(utime + stime over the whole LoadGen run, warm-up included, over the operations of its window
stretched to that length: an estimate, alike for every column).
Prints a markdown table: medians with (min-max), and each column's ratio to the better original.

The minimal relays are yardsticks, not candidates: the TCP one has no options, limits, logs or
keepalive, and copies through memory; the UDP one has sessions but no expiry, no limits and no
source-address control messages. What it cannot beat, no relay design can beat on this machine: the
rest of the cost is the kernel's (loopback TCP and waking the peers), paid by every relay alike.
It runs twice: as it is, and polling epoll for 50 us before it sleeps (MINIMAL_RELAY_BUSY_POLL_US).

Needs gcc, iperf3, the originals (build/fetch-originals.sh), ours (build/publish.sh) and LoadGen
(published by build/bench/run.sh to artifacts/bench/loadgen). Loopback only; every wait is
bounded; only processes started here are signalled.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build", "tools"))
import measure_core as mc  # noqa: E402
import measure_udp as mu  # noqa: E402

LOADGEN = os.path.join(ROOT, "artifacts", "bench", "loadgen", "loadgen")
OUT = os.path.join(ROOT, "artifacts", "bench", "floor")
SOURCES = os.path.join(ROOT, "build", "bench", "floor")
TIMEOUT_S = 60


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def build_minimal(name):
    """Compiles build/bench/floor/NAME.c; returns it and a wrapper that busy-polls 50 us."""
    os.makedirs(OUT, exist_ok=True)
    binary = os.path.join(OUT, name)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", binary, os.path.join(SOURCES, name + ".c")], check=True, timeout=TIMEOUT_S)
    busy = os.path.join(OUT, name + "-busy-poll")
    with open(busy, "w") as f:
        f.write(f'#!/bin/sh\nMINIMAL_RELAY_BUSY_POLL_US=50 exec "{binary}" "$@"\n')
    os.chmod(busy, 0o755)
    return binary, busy


def loadgen(mode, port, seconds, extra=("--conns", "16")):
    argv = [LOADGEN, mode, "--port", str(port), "--size", "64", "--warmup", "0.5",
            "--seconds", str(seconds), *extra]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + TIMEOUT_S)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report.get("errors") or report.get("wrong_bytes"):
        raise RuntimeError(f"{mode}: {report.get('first_error')}")
    return report["rate"]


def closed_loop(binary, mode, seconds):
    """Rate of a LoadGen closed loop through the relay, and the relay's CPU (us) per operation."""
    echo = subprocess.Popen([LOADGEN, "tcp-echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        echo_port = int(echo.stdout.readline())
        proxy = mc.start_ready_proxy(binary, mc.free_ports(1)[0], echo_port)
        try:
            before = cpu_ticks(proxy.pid)
            rate = loadgen(mode, proxy.host_port, seconds)
            used = (cpu_ticks(proxy.pid) - before) / 100
        finally:
            mc.stop_proxies([proxy])
    finally:
        echo.stdin.close()
        echo.wait(timeout=TIMEOUT_S)
    return rate, used / (rate * (seconds + 0.5)) * 1e6


def udp_closed_loop(binary, seconds):
    """UDP request/response with 64 clients (distinct source ports, one LoadGen thread): requests/s."""
    echo = subprocess.Popen([LOADGEN, "udp-echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        echo_port = int(echo.stdout.readline())
        proxy = mu.start_ready_udp_proxy(binary, echo_port)
        try:
            rate = loadgen("udp-rr", proxy.host_port, seconds, ("--clients", "64", "--threads", "1"))
        finally:
            mu.stop_proxy(proxy)
    finally:
        echo.stdin.close()
        echo.wait(timeout=TIMEOUT_S)
    return rate


def bulk(binary, seconds):
    """iperf3 -P 4 through the relay: received Gbit/s."""
    server_port = mc.free_ports(1)[0]
    server = subprocess.Popen(["iperf3", "-s", "-1", "-B", mc.LOOPBACK, "-p", str(server_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        proxy = mc.start_ready_proxy(binary, mc.free_ports(1)[0], server_port)
        try:
            out = subprocess.run(["iperf3", "-c", mc.LOOPBACK, "-p", str(proxy.host_port), "-t", str(seconds),
                                  "-O", "1", "-Z", "-P", "4", "-J"], capture_output=True, text=True,
                                 timeout=seconds + TIMEOUT_S)
            gbps = json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
        finally:
            mc.stop_proxies([proxy])
    finally:
        try:
            server.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return gbps


def cell(values, digits):
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--ours", default=os.path.join(ROOT, "artifacts", "publish", "docker-proxy"))
    args = parser.parse_args()
    if not 1 <= args.rounds <= 20 or not 1 <= args.seconds <= 30:
        parser.error("--rounds 1-20, --seconds 1-30")
    if not os.access(LOADGEN, os.X_OK):
        sys.exit(f"floor.py: {LOADGEN} is missing: run build/bench/run.sh --quick --no-docs once")
    minimal, minimal_busy = build_minimal("minimal-relay")
    minimal_udp, minimal_udp_busy = build_minimal("minimal-udp-relay")
    original_20 = os.path.join(ROOT, "artifacts", "originals", "20.10", "docker-proxy")
    original_28 = os.path.join(ROOT, "artifacts", "originals", "28.5", "docker-proxy")
    # Each column: its binary for TCP, and for UDP.
    columns = {
        "orig-20.10": (original_20, original_20),
        "orig-28.5": (original_28, original_28),
        "ours": (args.ours, args.ours),
        "minimal": (minimal, minimal_udp),
        "minimal-busy-poll": (minimal_busy, minimal_udp_busy),
    }
    metrics = {
        "rr16": ("TCP RR 64 B, 16 connections (requests/s)", 0),
        "rr16_cpu": ("relay CPU per request, RR 16 (µs)", 1),
        "crr16": ("connect + RR 64 B + close, 16 clients (/s)", 0),
        "crr16_cpu": ("relay CPU per connection, CRR 16 (µs)", 1),
        "bulk4": ("TCP bulk, 4 streams (Gbit/s)", 2),
        "udp64": ("UDP RR 64 B, 64 clients (requests/s)", 0),
    }
    samples = {name: {m: [] for m in metrics} for name in columns}
    names = list(columns)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        print(f"round {r + 1} of {args.rounds}: {' '.join(order)}", file=sys.stderr)
        for name in order:
            tcp, udp = columns[name]
            rr, cpu = closed_loop(tcp, "tcp-rr", args.seconds)
            samples[name]["rr16"].append(rr)
            samples[name]["rr16_cpu"].append(cpu)
            crr, cpu = closed_loop(tcp, "tcp-crr", args.seconds)
            samples[name]["crr16"].append(crr)
            samples[name]["crr16_cpu"].append(cpu)
            gbps = bulk(tcp, args.seconds + 1)
            samples[name]["bulk4"].append(gbps)
            udp64 = udp_closed_loop(udp, args.seconds)
            samples[name]["udp64"].append(udp64)
            print(f"  {name:18s} rr16={rr:,.0f} crr16={crr:,.0f} bulk4={gbps:.2f} udp64={udp64:,.0f}", file=sys.stderr)

    print(f"{args.rounds} interleaved round(s); medians with (min–max); ratios: median / better original's median")
    print()
    print("| metric | " + " | ".join(names) + " | " + " | ".join(f"{n} / best original" for n in names[2:]) + " |")
    print("|---|" + "---:|" * (2 * len(names) - 2))
    for key, (label, digits) in metrics.items():
        medians = {n: statistics.median(samples[n][key]) for n in names}
        lower_better = key.endswith("_cpu")
        best = min(medians["orig-20.10"], medians["orig-28.5"]) if lower_better else max(medians["orig-20.10"], medians["orig-28.5"])
        ratios = [f"{medians[n] / best:.2f}" for n in names[2:]]
        print(f"| {label} | " + " | ".join(cell(samples[n][key], digits) for n in names) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()

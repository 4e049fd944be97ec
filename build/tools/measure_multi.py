#!/usr/bin/env python3
"""Measures one process mapping many ports against one process per port; run via build/measure-multi.sh.

  ours, one process: -map ranges of PORTS ports (TCP; UDP; half and half), started with the usual
      soft RLIMIT_NOFILE of 1024 (the proxy raises its own): time from exec (posix_spawn) to "0\\n"
      on fd 3, median of RUNS; then PSS and private memory (smaps_rollup) after 1 s idle.
  one process per port (the original's way, and ours with the classic flags): SAMPLE processes
      started one after the other, each waited for until "0\\n" (as dockerd starts them), then all
      idle together for 1 s; the total start time and the sum of their PSS and private memory,
      extrapolated linearly to PORTS processes (stated as such in the table).
Everything stays on 127.0.0.1 (container ports are never dialled: nothing connects); every wait
is bounded; only PIDs started here are signalled.
"""

import argparse
import os
import resource
import signal
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure_core as core  # noqa: E402  (spawn, status and memory functions shared with measure-core)

LOOPBACK = "127.0.0.1"
USUAL_SOFT_NOFILE = 1024
LOWEST, HIGHEST = 10000, 32767   # below the kernel's ephemeral range: nothing else picks these


def free_range(count, kinds, avoid=()):
    """First port of COUNT consecutive ports free for every socket kind in KINDS (probed by binding)."""
    for first in range(LOWEST, HIGHEST - count + 2, 500):
        if any(first <= a_last and first + count - 1 >= a_first for a_first, a_last in avoid):
            continue
        if all(range_free(first, count, kind) for kind in kinds):
            return first
    raise core.MeasureError(f"no {count} consecutive free ports on {LOOPBACK}")


def range_free(first, count, kind):
    held = []
    try:
        for port in range(first, first + count):
            s = socket.socket(socket.AF_INET, kind)
            held.append(s)
            s.bind((LOOPBACK, port))
        return True
    except OSError:
        return False
    finally:
        for s in held:
            s.close()


def spawn(binary, argv):
    """posix_spawn with fd 3 a status pipe and stdio on /dev/null (as core.spawn_proxy, any argv)."""
    read_fd, write_fd = os.pipe()
    if write_fd == 3:
        moved = os.dup(write_fd)
        os.close(write_fd)
        write_fd = moved
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_DUP2, write_fd, 3)]
    defaults = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)
    started = time.perf_counter_ns()
    try:
        pid = os.posix_spawn(binary, [binary] + argv, os.environ, file_actions=actions,
                             setsigdef=defaults, setsigmask=())
    finally:
        os.close(write_fd)
    core._live_pids.add(pid)
    return core.Proxy(binary, pid, read_fd, started, None)


def one_process(binary, maps, runs):
    """Median exec-to-ready ms over RUNS, and (PSS, private) kB of the last run after 1 s idle."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(USUAL_SOFT_NOFILE, hard), hard))
    try:
        times, memory = [], None
        for run in range(runs):
            argv = [arg for m in maps for arg in ("-map", m)]
            proxy = spawn(binary, argv)
            try:
                core.wait_ready([proxy], timeout_s=30)
                times.append((proxy.ready_ns - proxy.spawned_ns) / 1e6)
                if run == runs - 1:
                    time.sleep(core.SETTLE_S)
                    fields = core.smaps_rollup_kb(proxy.pid)
                    memory = (fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"])
            finally:
                core.stop_proxies([proxy])
        return statistics.median(times), memory
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def process_per_port(binary, first_port, sample):
    """Total ms to start SAMPLE proxies one after the other, and the sum of their (PSS, private) kB."""
    proxies = []
    try:
        started = time.perf_counter_ns()
        for i in range(sample):
            proxies.append(core.start_ready_proxy(binary, first_port + i, first_port + i))
        total_ms = (time.perf_counter_ns() - started) / 1e6
        time.sleep(core.SETTLE_S)
        pss = private = 0
        for proxy in proxies:
            fields = core.smaps_rollup_kb(proxy.pid)
            pss += fields["Pss"]
            private += fields["Private_Clean"] + fields["Private_Dirty"]
        return total_ms, (pss, private)
    finally:
        core.stop_proxies(proxies)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=10000)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ours", required=True)
    parser.add_argument("--original", action="append", default=[], help="NAME=BIN, repeatable")
    args = parser.parse_args(argv)
    ours = core.resolve_binary(args.ours)
    if ours is None:
        raise SystemExit(f"measure-multi: no executable at {args.ours}")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < args.ports + 100:
        raise SystemExit(f"measure-multi: RLIMIT_NOFILE hard limit {hard} is below {args.ports + 100}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    n = args.ports
    host = free_range(n, (socket.SOCK_STREAM, socket.SOCK_DGRAM))
    container = free_range(n, (socket.SOCK_STREAM,), avoid=[(host, host + n - 1)])
    half = n // 2
    shapes = [
        (f"{n:,} TCP", [f"tcp:{LOOPBACK}:{host}-{host + n - 1}:{LOOPBACK}:{container}-{container + n - 1}"]),
        (f"{n:,} UDP", [f"udp:{LOOPBACK}:{host}-{host + n - 1}:{LOOPBACK}:{container}-{container + n - 1}"]),
        (f"{half:,} TCP + {n - half:,} UDP", [
            f"tcp:{LOOPBACK}:{host}-{host + half - 1}:{LOOPBACK}:{container}-{container + half - 1}",
            f"udp:{LOOPBACK}:{host + half}-{host + n - 1}:{LOOPBACK}:{container + half}-{container + n - 1}"]),
    ]
    rows = []
    for label, maps in shapes:
        core.log(f"ours, one process, {label}")
        ready_ms, (pss, private) = one_process(ours, maps, args.runs)
        rows.append((f"ours, 1 process, {label} (-map)", "measured", ready_ms, pss, private))

    scale = n / args.sample
    for name, path in [("ours", args.ours)] + [tuple(o.split("=", 1)) for o in args.original]:
        core.log(f"{name}, {args.sample} processes, one per port")
        binary = core.resolve_binary(path)
        if binary is None:
            raise SystemExit(f"measure-multi: no executable at {path}")
        total_ms, (pss, private) = process_per_port(binary, host, args.sample)
        rows.append((f"{name}, {n:,} processes (1 per TCP port)",
                     f"{args.sample} measured, x{scale:g}", total_ms * scale, pss * scale, private * scale))

    print(f"| setup ({n:,} ports) | figures | ready (exec to 0\\n) | PSS | private |")
    print("|---|---|---:|---:|---:|")
    for label, how, ms, pss, private in rows:
        print(f"| {label} | {how} | {ms:,.0f} ms | {pss / 1024:,.1f} MiB | {private / 1024:,.1f} MiB |")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except core.MeasureError as error:
        core.log(f"measure-multi: {error}")
        sys.exit(1)
    finally:
        core.kill_leftovers()

#!/usr/bin/env python3
"""Side-by-side performance benchmark of docker-proxy binaries; run via build/bench/run.sh.

Subjects: direct (no proxy: the limit), orig-20.10, orig-28.5, ours-splice, ours-pipelines.
Every round measures every metric for every subject, interleaved (A B C D E, then the next
metric; the starting subject rotates every round), so that the noise of a shared machine hits
all alike. Cells are the median over the rounds with (min-max).

The traffic comes from iperf3 (bulk) and from build/bench/LoadGen (request/response, connect
rates, UDP; published by run.sh to artifacts/bench/loadgen); start-up and memory figures come
from build/tools/measure_core.py and build/tools/measure_udp.py, imported. Everything runs on
127.0.0.1, every wait is bounded, and only PIDs started here are signalled.
"""

import argparse
import datetime
import json
import math
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True  # importing the measure_* modules leaves no __pycache__ behind
sys.path.insert(0, os.path.join(ROOT, "build", "tools"))
import measure_core as core  # noqa: E402
import measure_udp as udp  # noqa: E402
from measure_core import MeasureError  # noqa: E402

LOOPBACK = core.LOOPBACK
TIMEOUT_S = core.TIMEOUT_S
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
COPY_MODE_VARIABLE = "DOCKER_PROXY_COPY_MODE"  # the environment form of -copy-mode

FULL = dict(rounds=3, bulk_s=5, omit_s=1, warmup_s=0.5, window_s=3.0, verify_bytes=16 << 20,
            startups=core.FULL["startups"], processes=core.FULL["processes"],
            connections=core.FULL["connections"], sessions=udp.FULL["burst"])
QUICK = dict(rounds=1, bulk_s=2, omit_s=1, warmup_s=0.3, window_s=1.0, verify_bytes=4 << 20,
             startups=core.QUICK["startups"], processes=core.QUICK["processes"],
             connections=core.QUICK["connections"], sessions=udp.QUICK["burst"])
UDP_CLIENTS = 64
RR_CONNECTIONS = 16
CRR_CLIENTS = 16
PAYLOAD = 64


def log(message):
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- problems

_context = ["start"]   # what is being measured now, for the problem list
problems = []          # (context, text): crashes, stalls, wrong bytes, failed measurements
notes = []             # (context, text): worth knowing, not a failure (e.g. UDP requests lost)


def problem(text):
    entry = (_context[0], text)
    problems.append(entry)
    log(f"    PROBLEM [{entry[0]}]: {text}")


def note(text):
    entry = (_context[0], text)
    notes.append(entry)
    log(f"    note [{entry[0]}]: {text}")


def _capture(message):
    """measure_core / measure_udp report through log(); their warnings become problems."""
    log(message)
    if "warning" in message or "failed" in message:
        problems.append((_context[0], message.strip()))


core.log = _capture
udp.log = _capture


# --------------------------------------------------------------------------- subjects

class Subject:
    def __init__(self, name, path, copy_mode=None):
        self.name = name
        self.path = path            # None: no proxy
        self.copy_mode = copy_mode  # ours: DOCKER_PROXY_COPY_MODE for every proxy it starts
        self.samples = {}

    def add(self, key, value):
        self.samples.setdefault(key, []).append(value)

    def __enter__(self):
        if self.copy_mode:
            os.environ[COPY_MODE_VARIABLE] = self.copy_mode
        else:
            os.environ.pop(COPY_MODE_VARIABLE, None)
        return self

    def __exit__(self, *exc):
        os.environ.pop(COPY_MODE_VARIABLE, None)
        return False


# --------------------------------------------------------------------------- child processes

_children = set()  # Popen objects started here and not yet reaped


def spawn(argv, **kwargs):
    proc = subprocess.Popen(argv, **kwargs)
    _children.add(proc)
    return proc


def finish(proc, grace_s=5.0):
    """Waits for PROC (SIGKILL after GRACE_S); returns its exit status."""
    try:
        status = proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    _children.discard(proc)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return status


def kill_children():
    for proc in list(_children):
        if proc.poll() is None:
            proc.kill()
        finish(proc)


def read_line(proc, what, timeout_s=TIMEOUT_S, marker=None):
    """The first stdout line of PROC (containing MARKER, if given), within TIMEOUT_S."""
    deadline = time.monotonic() + timeout_s
    fd = proc.stdout.fileno()
    buffered = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MeasureError(f"{what} not ready after {timeout_s:.0f} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            raise MeasureError(f"{what} exited before it was ready (status {proc.wait(1)})")
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            text = line.decode(errors="replace").strip()
            if marker is None or marker in text:
                return text


class Echo:
    """An echo backend from LoadGen, a process of its own; ends when its stdin closes."""

    def __init__(self, loadgen, kind):
        self.proc = spawn([loadgen, kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.port = int(read_line(self.proc, f"the {kind} backend"))
        except (MeasureError, ValueError):
            self.close()
            raise

    def close(self):
        if self.proc.poll() is not None:
            problem(f"the echo backend exited by itself (status {self.proc.returncode})")
        self.proc.stdin.close()
        finish(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Proxied:
    """The subject's proxy (TCP or UDP) in front of BACKEND_PORT, or nothing for direct."""

    def __init__(self, subject, proto, backend_port):
        self.proxy = None
        if subject.path is None:
            self.port = backend_port
        elif proto == "tcp":
            self.proxy = core.start_ready_proxy(subject.path, core.free_ports(1)[0], backend_port)
            self.port = self.proxy.host_port
        else:
            self.proxy = udp.start_ready_udp_proxy(subject.path, backend_port)
            self.port = self.proxy.host_port

    @property
    def pid(self):
        return self.proxy.pid if self.proxy else None

    def check(self):
        """Raises if the proxy has died."""
        if self.proxy:
            core.ensure_alive(self.proxy)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proxy and self.proxy.pid in core._live_pids:
            core.stop_proxies([self.proxy])
        return False


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise MeasureError(f"no VmHWM for PID {pid}")


# --------------------------------------------------------------------------- traffic measurements

class Bench:
    def __init__(self, loadgen, counts, udp_threads):
        self.loadgen = loadgen
        self.counts = counts
        self.udp_threads = udp_threads

    def run_loadgen(self, args, seconds):
        """Runs a LoadGen client; returns its JSON report (raises if it has none)."""
        proc = spawn([self.loadgen] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise MeasureError(f"the load generator did not finish within {seconds + 30:.0f} s")
        finally:
            finish(proc)
        lines = out.decode(errors="replace").strip().splitlines()
        if not lines:
            raise MeasureError(f"the load generator printed nothing (status {proc.returncode}; "
                               f"{err.decode(errors='replace').strip()[:300]})")
        return json.loads(lines[-1])

    def closed_loop(self, subject, proto, command, args):
        """A LoadGen closed-loop run (tcp-rr, tcp-crr, udp-rr) through the subject."""
        c = self.counts
        with Echo(self.loadgen, f"{proto}-echo") as echo, \
                Proxied(subject, proto, echo.port) as proxy:
            argv = [command, "--port", str(proxy.port), "--size", str(PAYLOAD),
                    "--warmup", str(c["warmup_s"]), "--seconds", str(c["window_s"])] + args
            if proxy.pid:
                argv += ["--pid", str(proxy.pid)]
            report = self.run_loadgen(argv, c["warmup_s"] + c["window_s"])
            proxy.check()
        if report.get("wrong_bytes"):
            problem(f"WRONG BYTES: {report.get('first_error')}")
        if report.get("errors"):
            problem(f"{report['errors']:.0f} error(s), first: {report.get('first_error')}")
        if report.get("lost"):
            # A reply later than 200 ms (a stall of the machine) counts as lost and as stale;
            # only replies that never came are worth a note of their own.
            subject.add("udp_lost", report["lost"])
            subject.add("udp_late", report.get("stale", 0))
            if report["lost"] > report.get("stale", 0):
                note(f"{report['lost']:.0f} request(s) had no reply within 200 ms and were "
                     f"replaced; {report.get('stale', 0):.0f} of them came later")
        if not report.get("completed"):
            raise MeasureError(f"nothing completed ({report.get('first_error')})")
        return report

    def tcp_rr(self, subject):
        one = self.closed_loop(subject, "tcp", "tcp-rr", ["--conns", "1"])
        values = dict(rr1_rate=one["rate"], rr1_p50=one["p50_us"], rr1_p99=one["p99_us"])
        if "watched_cpu_s" in one:
            values["rr1_cpu_us"] = one["watched_cpu_s"] / one["completed"] * 1e6
        return values

    def tcp_rr_many(self, subject):
        many = self.closed_loop(subject, "tcp", "tcp-rr", ["--conns", str(RR_CONNECTIONS)])
        values = dict(rr16_rate=many["rate"])
        if "watched_cpu_s" in many:
            values["rr16_cpu_us"] = many["watched_cpu_s"] / many["completed"] * 1e6
        return values

    def tcp_crr(self, subject, clients):
        report = self.closed_loop(subject, "tcp", "tcp-crr", ["--conns", str(clients)])
        return {f"crr{clients}_rate": report["rate"]}

    def udp_rr(self, subject, clients):
        threads = clients if clients == 1 else self.udp_threads
        report = self.closed_loop(subject, "udp", "udp-rr",
                                  ["--clients", str(clients), "--threads", str(threads)])
        values = {f"udp{clients}_rate": report["rate"]}
        if clients == 1:
            values["udp1_p50"] = report["p50_us"]
        return values

    def verify(self, subject):
        """4 connections, each N bytes echoed in full and compared, then half-closed."""
        with Echo(self.loadgen, "tcp-echo") as echo, Proxied(subject, "tcp", echo.port) as proxy:
            report = self.run_loadgen(["tcp-verify", "--port", str(proxy.port), "--conns", "4",
                                       "--bytes", str(self.counts["verify_bytes"])], 60)
            proxy.check()
        if report.get("errors"):
            problem(f"integrity check (4 x {self.counts['verify_bytes'] >> 20} MiB echoed, "
                    f"then half-close): {report.get('first_error')}")
        return {}

    def bulk(self, subject, streams):
        """iperf3 through the proxy to an iperf3 server: Gbit/s, the proxy's CPU per GB and
        its peak RSS."""
        c = self.counts
        server_port = core.free_ports(1)[0]
        server = spawn(["iperf3", "-s", "-1", "-B", LOOPBACK, "-p", str(server_port),
                        "-i", "0", "--forceflush"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            read_line(server, "the iperf3 server", marker="Server listening")
            with Proxied(subject, "tcp", server_port) as proxy:
                cpu_before = udp.cpu_ticks(proxy.pid) if proxy.pid else None
                client = spawn(["iperf3", "-c", LOOPBACK, "-p", str(proxy.port),
                                "-t", str(c["bulk_s"]), "-O", str(c["omit_s"]),
                                "-P", str(streams), "-Z", "-J"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                limit = c["bulk_s"] + c["omit_s"] + 30
                try:
                    out, _ = client.communicate(timeout=limit)
                except subprocess.TimeoutExpired:
                    client.kill()
                    client.communicate()
                    raise MeasureError(f"iperf3 did not finish within {limit} s") from None
                finally:
                    finish(client)
                values = {}
                if proxy.pid:
                    proxy.check()
                    cpu_s = (udp.cpu_ticks(proxy.pid) - cpu_before) / CLOCK_TICKS
                    values[f"hwm{streams}"] = vm_hwm_kib(proxy.pid) / 1024
        finally:
            if server.poll() is None:
                server.kill()
            finish(server)
        try:
            result = json.loads(out)
        except ValueError:
            raise MeasureError(f"iperf3 printed no JSON (status {client.returncode})") from None
        if "error" in result:
            raise MeasureError(f"iperf3: {result['error']}")
        values[f"bulk{streams}"] = result["end"]["sum_received"]["bits_per_second"] / 1e9
        moved = sum(interval["sum"]["bytes"] for interval in result["intervals"])  # omitted too
        if proxy.pid:
            values[f"cpu_gb{streams}"] = cpu_s / (moved / 1e9)
        return values

    # ------------------------------------------------------------------ reused figures

    def startups(self, subject, count):
        return {"startup": [core.measure_startup(subject.path) for _ in range(count)]}

    def processes(self, subject):
        pss, rss = core.measure_idle_processes(subject.path, self.counts["processes"])
        return dict(pss=pss, rss=rss)

    def connections(self, subject):
        return {"conn_kib": core.measure_idle_connections(subject.path,
                                                          self.counts["connections"])}

    def sessions(self, subject):
        values = udp.measure_burst(subject, self.counts["sessions"])
        memory = values.get("memory")
        if isinstance(memory, MeasureError):
            raise memory
        result = {"udp_loss": values["loss"]}
        if memory is not None:
            result["session_kib"] = memory / self.counts["sessions"]
        return result


# --------------------------------------------------------------------------- the run

def startups_per_round(counts):
    return max(1, math.ceil(counts["startups"] / counts["rounds"]))


def blocks(bench, counts):
    """(name, proxy only, action(subject) -> {key: value or [values]}) in the order run."""
    per_round = startups_per_round(counts)
    return [
        ("integrity check", False, bench.verify),
        ("TCP bulk, 1 stream", False, lambda s: bench.bulk(s, 1)),
        ("TCP bulk, 4 streams", False, lambda s: bench.bulk(s, 4)),
        ("TCP RR, 1 connection", False, bench.tcp_rr),
        (f"TCP RR, {RR_CONNECTIONS} connections", False, bench.tcp_rr_many),
        ("TCP CRR, 1 client", False, lambda s: bench.tcp_crr(s, 1)),
        (f"TCP CRR, {CRR_CLIENTS} clients", False, lambda s: bench.tcp_crr(s, CRR_CLIENTS)),
        ("UDP RR, 1 client", False, lambda s: bench.udp_rr(s, 1)),
        (f"UDP RR, {UDP_CLIENTS} clients", False, lambda s: bench.udp_rr(s, UDP_CLIENTS)),
        (f"start-up x{per_round}", True, lambda s: bench.startups(s, per_round)),
        (f"idle processes x{counts['processes']}", True, bench.processes),
        (f"idle TCP connections x{counts['connections']}", True, bench.connections),
        (f"UDP sessions x{counts['sessions']}", True, bench.sessions),
    ]


def run_all(subjects, bench, counts):
    rounds = counts["rounds"]
    for number in range(rounds):
        shift = number % len(subjects)
        order = subjects[shift:] + subjects[:shift]
        log(f"round {number + 1} of {rounds}: {' '.join(s.name for s in order)}")
        for name, proxy_only, action in blocks(bench, counts):
            log(f"  {name}")
            for subject in order:
                if proxy_only and subject.path is None:
                    continue
                _context[0] = f"round {number + 1}, {subject.name}, {name}"
                started = time.monotonic()
                try:
                    with subject:
                        values = action(subject)
                except (MeasureError, OSError, ValueError, KeyError) as error:
                    problem(f"measurement failed: {type(error).__name__}: {error}")
                    continue
                for key, value in values.items():
                    for item in (value if isinstance(value, list) else [value]):
                        subject.add(key, item)
                log(f"    {subject.name:15s} {time.monotonic() - started:5.1f} s  "
                    + "  ".join(f"{k}={summary(v)}" for k, v in values.items()))


def summary(value):
    if isinstance(value, list):
        return f"{statistics.median(value):.3g} (median of {len(value)})"
    return f"{value:.4g}"


# --------------------------------------------------------------------------- the table

def rows(counts):
    """(key, label, format, higher is better, proxy only)."""
    return [
        ("bulk1", "TCP bulk, 1 stream (Gbit/s)", "{:.2f}", True, False),
        ("bulk4", "TCP bulk, 4 streams (Gbit/s)", "{:.2f}", True, False),
        ("cpu_gb1", "proxy CPU per GB relayed, 1 stream (s)", "{:.2f}", False, True),
        ("cpu_gb4", "proxy CPU per GB relayed, 4 streams (s)", "{:.2f}", False, True),
        ("hwm4", "proxy peak RSS (VmHWM), 4 streams (MiB)", "{:.1f}", False, True),
        ("rr1_p50", "TCP RR 64 B, 1 connection: p50 (µs)", "{:.1f}", False, False),
        ("rr1_p99", "TCP RR 64 B, 1 connection: p99 (µs)", "{:.1f}", False, False),
        ("rr1_rate", "TCP RR 64 B, 1 connection (requests/s)", "{:,.0f}", True, False),
        ("rr16_rate", f"TCP RR 64 B, {RR_CONNECTIONS} connections (requests/s)", "{:,.0f}",
         True, False),
        ("crr1_rate", "TCP connect + RR 64 B + close, 1 client (/s)", "{:,.0f}", True, False),
        ("crr16_rate", f"TCP connect + RR 64 B + close, {CRR_CLIENTS} clients (/s)", "{:,.0f}",
         True, False),
        ("udp1_rate", "UDP RR 64 B, 1 client (requests/s)", "{:,.0f}", True, False),
        ("udp64_rate", f"UDP RR 64 B, {UDP_CLIENTS} clients (requests/s)", "{:,.0f}", True,
         False),
        ("startup", "start-up: exec to \"0\\n\" on fd 3 (ms)", "{:.2f}", False, True),
        ("pss", f"PSS per idle process, {counts['processes']} running (MiB)", "{:.2f}", False,
         True),
        ("conn_kib", f"private memory per idle TCP connection, {counts['connections']:,} open "
                     "(KiB)", "{:.1f}", False, True),
        ("session_kib", f"private memory per UDP session, {counts['sessions']:,} sessions (KiB)",
         "{:.2f}", False, True),
        ("udp_loss", f"UDP first datagrams without a reply, {counts['sessions']:,} new clients at "
                     "once (%)", "{:.1f}", False, True),
    ]


# Rows left out of the chart: a ratio of 0 (ours lost nothing) has no place on a log scale.
NOT_CHARTED = {"udp_loss"}


def ratio_text(value):
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def medians(subjects, key):
    return {s.name: statistics.median(s.samples[key]) for s in subjects if s.samples.get(key)}


def ratio_columns(subjects):
    """(title, subject name, kind) with kind "direct" or "orig"."""
    ours = [s.name for s in subjects if s.name.startswith("ours")]
    columns = []
    if any(s.path is None for s in subjects):
        columns += [(f"{name} / direct", name, "direct") for name in ours]
    columns += [(f"{name} / best original", name, "orig") for name in ours]
    return columns


def best_original(subjects, key, higher_better):
    known = medians([s for s in subjects if s.name.startswith("orig")], key)
    if not known:
        return None
    return (max if higher_better else min)(known.values())


def ratios(subjects, key, higher_better):
    """{(name, kind): ratio} for the ratio columns."""
    meds = medians(subjects, key)
    direct = next((meds.get(s.name) for s in subjects if s.path is None), None)
    best = best_original(subjects, key, higher_better)
    result = {}
    for _, name, kind in ratio_columns(subjects):
        base = direct if kind == "direct" else best
        if name in meds and base:
            result[(name, kind)] = meds[name] / base
    return result


def render_table(subjects, counts):
    columns = ratio_columns(subjects)
    header = ["metric"] + [s.name for s in subjects] + [title for title, _, _ in columns]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for key, label, fmt, higher_better, proxy_only in rows(counts):
        arrow = "↑" if higher_better else "↓"
        cells = [f"{label} {arrow}"]
        for subject in subjects:
            samples = subject.samples.get(key)
            if subject.path is None and proxy_only:
                cells.append("–")
            elif not samples:
                cells.append("error")
            else:
                cell = fmt.format(statistics.median(samples))
                if len(samples) > 1:
                    cell += f" ({fmt.format(min(samples))}–{fmt.format(max(samples))})"
                cells.append(cell)
        found = ratios(subjects, key, higher_better)
        for _, name, kind in columns:
            value = found.get((name, kind))
            cells.append(ratio_text(value) if value is not None else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the chart

def render_svg(subjects, counts):
    """Horizontal bars, log scale: ours-X / best original per metric; 1.0 marked."""
    modes = [(s.name, colour) for s, colour in
             zip([s for s in subjects if s.name.startswith("ours")], ("#2b6cb0", "#dd6b20"))]
    items = []
    for key, label, _, higher_better, _ in rows(counts):
        if key in NOT_CHARTED:
            continue
        found = ratios(subjects, key, higher_better)
        values = [(name, colour, found.get((name, "orig"))) for name, colour in modes]
        if any(v is not None for _, _, v in values):
            items.append((label, higher_better, values))
    known = [v for _, _, vals in items for _, _, v in vals if v]
    span = max([abs(math.log(v)) for v in known] + [math.log(2)]) * 1.05
    left, plot_w, right, pad = 430, 440, 30, 40  # PAD: room for the value labels
    bar_h, gap, row_h, top = 11, 2, 36, 78
    width = left + plot_w + right
    height = top + row_h * len(items) + 56

    def x(value):
        return left + pad + (plot_w - 2 * pad) * (math.log(value) + span) / (2 * span)

    def esc(text):
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
           f'font-size="12">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" '
           f'font-weight="bold">ours / best original, per metric (log scale)</text>',
           f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#444">'
           f'↑ higher is better, ↓ lower is better; pale bar: worse than the best original'
           f'</text>']
    for index, (name, colour) in enumerate(modes):
        lx = left + index * 160
        out.append(f'<rect x="{lx}" y="52" width="14" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 20}" y="61">{esc(name)}</text>')
    # Ticks at powers of 2, thinned to powers of 4, 8, ... until they are 40 px apart.
    step = 2.0
    while (x(step) - x(1)) < 40:
        step *= step
    ticks = [1.0]
    while ticks[-1] * step <= math.exp(span):
        ticks.append(ticks[-1] * step)
    while ticks[0] / step >= math.exp(-span):
        ticks.insert(0, ticks[0] / step)
    bottom = top + row_h * len(items)
    for value in ticks:
        tx = x(value)
        stroke = 'stroke="#222" stroke-width="1.5"' if value == 1 else 'stroke="#ddd"'
        out.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{bottom}" {stroke}/>')
        text = f"{value:g}" if value >= 1 else f"1/{1 / value:g}"
        out.append(f'<text x="{tx:.1f}" y="{bottom + 16}" text-anchor="middle" '
                   f'fill="#444">{text}</text>')
    out.append(f'<text x="{x(1):.1f}" y="{bottom + 32}" text-anchor="middle" fill="#222">'
               f'1.0 = the better original</text>')
    for row, (label, higher_better, values) in enumerate(items):
        y0 = top + row * row_h
        arrow = "↑" if higher_better else "↓"
        out.append(f'<text x="{left - 8}" y="{y0 + bar_h + gap / 2 + 4}" text-anchor="end">'
                   f'{esc(label)} {arrow}</text>')
        for index, (name, colour, value) in enumerate(values):
            by = y0 + index * (bar_h + gap)
            if value is None:
                out.append(f'<text x="{x(1) + 4:.1f}" y="{by + bar_h - 1}" fill="#999">'
                           f'n/a</text>')
                continue
            shown = min(max(value, math.exp(-span)), math.exp(span))
            x0, x1 = sorted((x(1), x(shown)))
            better = value >= 1 if higher_better else value <= 1
            opacity = "1" if better else "0.35"
            out.append(f'<rect x="{x0:.1f}" y="{by}" width="{max(x1 - x0, 1):.1f}" '
                       f'height="{bar_h}" fill="{colour}" fill-opacity="{opacity}">'
                       f'<title>{esc(name)}: {ratio_text(value)}</title></rect>')
            tx, anchor = (x1 + 4, "start") if value >= 1 else (x0 - 4, "end")
            out.append(f'<text x="{tx:.1f}" y="{by + bar_h - 1}" text-anchor="{anchor}" '
                       f'font-size="10">{ratio_text(value)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- the document

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def load_average():
    try:
        with open("/proc/loadavg") as text:
            return float(text.read().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as info:
            memory = int(info.readline().split()[1]) / (1 << 20)
    except OSError:
        memory = 0
    return (f"nproc {len(os.sched_getaffinity(0))}, kernel {platform.release()}, {model}, "
            f"{memory:.0f} GiB")


def section(meta, subjects, counts, table):
    c = counts
    load = meta["load"]
    threads = "one thread" if meta["udp_threads"] == 1 else f"{meta['udp_threads']} threads"
    lines = [
        BEGIN,
        "## Side by side: throughput, latency, connection rate (generated)",
        "",
        "Generated by `build/bench/run.sh`; everything between the `bench:` markers is "
        "rewritten by it.",
        "",
        "```sh",
        meta["command"],
        "```",
        "",
        f"- date: {meta['date']}; machine: {meta['machine']}; the run took "
        f"{meta['elapsed_s'] / 60:.1f} min; 1-minute load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end (other work on the machine)",
    ]
    for name, text in meta["versions"]:
        lines.append(f"- {name}: {text}")
    lines += [
        f"- {c['rounds']} round(s), interleaved: in every round each metric is measured for "
        "every column in turn (the first column rotates), so the noise of a shared machine hits "
        "all alike; cells are the median with (min–max) over the rounds, ratios compare "
        "medians. ↑ higher is better, ↓ lower is better; \"best original\" is the better of "
        "the two originals for that metric.",
        "- `direct`: no proxy, the client talks to the backend itself (the limit of the "
        "machine and the load generator). `ours-splice` and `ours-pipelines`: ours with "
        f"`{COPY_MODE_VARIABLE}=splice` / `pipelines` (the environment form of `-copy-mode`); "
        "the copy mode concerns TCP only, so UDP and idle figures of the two are the same code.",
        f"- TCP bulk: `iperf3 -c -t {c['bulk_s']} -O {c['omit_s']} -Z -P 1|4` through the proxy "
        "to `iperf3 -s` (received Gbit/s, after a 1 s omitted warm-up). Proxy CPU: utime + "
        "stime (`/proc/PID/stat`) over the whole iperf3 run, per 10⁹ bytes relayed; peak RSS: "
        "`VmHWM` of a proxy started for the 4-stream run.",
        f"- RR and CRR (TCP) and UDP RR: `build/bench/LoadGen` (C#, NativeAOT, blocking "
        f"sockets, one thread per connection or client) and an echo backend process of the "
        f"same program; {PAYLOAD}-byte requests, closed loop, {c['warmup_s']:g} s warm-up, "
        f"then a {c['window_s']:g} s window; every reply is compared with its request. CRR: "
        "connect, one round trip, close, repeat. UDP: one socket (source port, proxy "
        f"session) per client; the {UDP_CLIENTS} clients are driven by "
        f"{threads} "
        "with non-blocking sockets and poll(2): against 2, 4, 8 and 64 threads "
        "(64: one blocking socket each) it reached the same rates within the noise and cost "
        "the least generator CPU per request (about 2-4 µs, against 6-12 µs with 64 threads).",
        "- start-up, PSS per idle process, private memory per idle TCP connection and per UDP "
        "session: `build/tools/measure_core.py` and `build/tools/measure_udp.py` (see above), "
        f"run in the same rounds ({startups_per_round(c) * c['rounds']} start-ups per binary "
        "in all).",
        "",
        table.rstrip("\n"),
        "",
        "![ours / best original per metric](performance-ratios.svg)",
        "",
    ]
    if problems:
        lines.append("Problems seen in this run:")
        lines.append("")
        for context, text in problems:
            lines.append(f"- {context}: {text}")
    late = [(s.name, sum(s.samples.get("udp_lost", [])), sum(s.samples.get("udp_late", [])))
            for s in subjects if s.samples.get("udp_lost")]
    if notes or late:
        lines += ([""] if problems else []) + ["Notes from this run:", ""]
        for context, text in notes:
            lines.append(f"- {context}: {text}")
        if late:
            lines.append("- UDP requests without a reply within 200 ms, replaced by a new one "
                         "(all rounds; a reply that came later is a stall of the machine, not a "
                         "loss): " + ", ".join(f"{name} {lost:.0f} ({later:.0f} came later)"
                                               for name, lost, later in late))
    if not problems:
        lines += [""] if notes or late else []
        lines.append("No problems seen in this run: no proxy crashed or stalled, every reply "
                     "matched its request, every integrity check (4 × "
                     f"{c['verify_bytes'] >> 20} MiB echoed and compared, then half-closed) "
                     "passed, every proxy exited 0 on SIGINT.")
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_doc(path, text):
    with open(path) as doc:
        current = doc.read()
    start, end = current.find(BEGIN), current.find(END)
    if start >= 0 and end > start:
        updated = current[:start] + text.rstrip("\n") + current[end + len(END):]
        if not updated.endswith("\n"):
            updated += "\n"
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    temporary = path + ".bench-tmp"
    with open(temporary, "w") as doc:
        doc.write(updated)
    os.replace(temporary, path)


# --------------------------------------------------------------------------- command line

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="build/bench/run.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--udp-threads", type=int, default=1)
    parser.add_argument("--docs", choices=("yes", "no"))
    parser.add_argument("--loadgen")
    parser.add_argument("--bin-dir")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--only", help="comma-separated column names (for experiments)")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="measure nothing: rewrite the outputs from a results.json")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.render and not (args.loadgen and args.bin_dir):
        parser.error("--loadgen and --bin-dir are needed unless --render")
    return args


def version_of(directory, binary):
    note = os.path.join(directory, "VERSION")
    if os.path.exists(note):
        with open(note) as text:
            return f"Debian docker.io {text.read().strip()}"
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"version unknown ({error})"


def main(argv):
    args = parse_args(argv)
    if args.render:
        return render(args)
    counts = dict(QUICK if args.quick else FULL)
    if args.rounds:
        counts["rounds"] = args.rounds
    binary = {name: os.path.join(args.bin_dir, name, "docker-proxy")
              for name in ("orig-20.10", "orig-28.5", "ours")}
    subjects = [Subject("direct", None),
                Subject("orig-20.10", binary["orig-20.10"]),
                Subject("orig-28.5", binary["orig-28.5"]),
                Subject("ours-splice", binary["ours"], "splice"),
                Subject("ours-pipelines", binary["ours"], "pipelines")]
    if args.only:
        wanted = args.only.split(",")
        subjects = [s for s in subjects if s.name in wanted]
    write_docs = (args.docs or ("no" if args.quick else "yes")) == "yes" and not args.only
    meta = dict(command=args.command, udp_threads=args.udp_threads, machine=machine(),
                docs=write_docs,
                versions=[(name, version_of(os.path.dirname(path), path))
                          for name, path in binary.items()])
    core.raise_fd_limit(udp.CHILD_NOFILE)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    load_start = load_average()
    try:
        run_all(subjects, Bench(args.loadgen, counts, args.udp_threads), counts)
    finally:
        kill_children()
        udp.stop_helpers()
        core.kill_leftovers()
    meta.update(elapsed_s=time.monotonic() - started, load=(load_start, load_average()),
                date=f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "results.json"), "w") as out:
        json.dump(dict(meta=meta, counts=counts, problems=problems, notes=notes,
                       samples={s.name: s.samples for s in subjects}), out, indent=1)
    publish(meta, subjects, counts, args.out_dir, write_docs)
    if problems:
        log(f"{len(problems)} problem(s):")
        for context, text in problems:
            log(f"  [{context}] {text}")
    log(f"benchmark took {meta['elapsed_s']:.0f} s")
    return 1 if problems else 0


def publish(meta, subjects, counts, out_dir, write_docs):
    """Prints the table; writes results.md and the chart to OUT_DIR and, with WRITE_DOCS, the
    generated section of docs/performance.md and docs/performance-ratios.svg."""
    table = render_table(subjects, counts)
    sys.stdout.write(table)
    text = section(meta, subjects, counts, table)
    svg = render_svg(subjects, counts)
    with open(os.path.join(out_dir, "results.md"), "w") as out:
        out.write(text)
    with open(os.path.join(out_dir, "performance-ratios.svg"), "w") as out:
        out.write(svg)
    if write_docs:
        write_doc(os.path.join(ROOT, "docs", "performance.md"), text)
        with open(os.path.join(ROOT, "docs", "performance-ratios.svg"), "w") as out:
            out.write(svg)
        log("wrote docs/performance.md (generated section) and docs/performance-ratios.svg")


def render(args):
    """--render: the outputs of an earlier run again, from its results.json (no measuring)."""
    with open(args.render) as stored:
        data = json.load(stored)
    problems[:] = [tuple(entry) for entry in data["problems"]]
    notes[:] = [tuple(entry) for entry in data["notes"]]
    subjects = []
    for name, samples in data["samples"].items():
        subject = Subject(name, None if name == "direct" else name)
        subject.samples = samples
        subjects.append(subject)
    write_docs = args.docs == "yes" if args.docs else data["meta"]["docs"]
    os.makedirs(args.out_dir, exist_ok=True)
    publish(data["meta"], subjects, data["counts"], args.out_dir, write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

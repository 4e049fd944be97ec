#!/usr/bin/env python3
"""Measures the UDP relay of docker-proxy binaries side by side; run via build/measure-udp.sh.

For every binary, interleaved round robin so that noise on a shared machine hits all alike:
  1. closed-loop 64-byte request/response rate through the proxy to a UDP echo backend, with
     1 client (also round-trip p50/p99) and with 64 clients, plus the proxy's CPU time per
     100,000 requests (utime + stime from /proc/PID/stat);
  2. sparse traffic: one client sends a request every millisecond and awaits each reply; the
     proxy's CPU time per 100,000 requests;
  3. first-datagram loss: 4,000 new client sockets each send one datagram, back to back;
     the share that got no reply within 3 s;
  4. private memory (Private_Clean + Private_Dirty) the proxy adds for those 4,000 sessions,
     once every client has had its reply (silent clients resend until they do).
A binary without a path (NAME=) stands for no proxy at all: the clients talk to the echo
backend themselves, which shows the limit of the load generator.

The echo backend and the rate clients each run in a forked helper process (the 64 clients in
one process, multiplexed with epoll); the proxy is a third busy process. On a small machine
the Python load generator, not the proxy, bounds the absolute figures: compare binaries by the
ratios, which are measured the same way. Everything runs on 127.0.0.1, every wait is bounded,
and only PIDs started here are signalled (SIGINT, then SIGKILL).
"""

import argparse
import multiprocessing
import os
import select
import signal
import socket
import statistics
import struct
import sys
import time

sys.dont_write_bytecode = True  # importing measure_core leaves no __pycache__ in the tree
import measure_core as core  # noqa: E402
from measure_core import MeasureError, Subject, log  # noqa: E402

LOOPBACK = core.LOOPBACK
TIMEOUT_S = core.TIMEOUT_S      # bound for every wait
SETTLE_S = 1.0                  # pause before reading memory figures
WARMUP_S = 0.3                  # closed-loop traffic before a timed window opens
RESEND_S = 0.25                 # a request without a reply this long is counted lost and resent
RESEND_CHECK_S = 0.05           # how often the 64-client loop looks for such requests
BURST_WAIT_S = 3.0              # how long the burst clients wait for their first reply
RETRY_CHUNK = 64                # silent burst clients resent per step while filling the table
RETRY_WAIT_S = 0.5              # wait after each pass of resending
PAYLOAD_BYTES = 64
PADDING = b"x" * (PAYLOAD_BYTES - 8)  # after an 8-byte sequence number / client index
ECHO_BUFFER_BYTES = 8 << 20     # asked for the echo socket's kernel buffers (SO_*BUFFORCE)
CHILD_NOFILE = 16384            # RLIMIT_NOFILE of this script, inherited by the proxies
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                   signal.SIGPIPE, signal.SIGXFSZ)

# Sparse traffic: one client, one request per millisecond.
PACED_RATE = 1000

FULL = dict(duration=3.0, clients=64, burst=4000, rounds=3)
QUICK = dict(duration=1.0, clients=64, burst=4000, rounds=1)


# --------------------------------------------------------------------------- proxies

def spawn_udp_proxy(binary, host_port, container_port):
    """measure_core.spawn_proxy with -proto udp: stdio on /dev/null, fd 3 the write end of a
    fresh pipe, signals at their defaults; the PID joins measure_core's list of live PIDs."""
    read_fd, write_fd = os.pipe()  # both close-on-exec; only the dup2'd fd 3 survives exec
    if write_fd == 3:  # dup2(3, 3) would keep close-on-exec set
        moved = os.dup(write_fd)
        os.close(write_fd)
        write_fd = moved
    argv = [binary, "-proto", "udp",
            "-host-ip", LOOPBACK, "-host-port", str(host_port),
            "-container-ip", LOOPBACK, "-container-port", str(container_port)]
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, write_fd, 3),
    ]
    spawned_ns = time.perf_counter_ns()
    try:
        pid = os.posix_spawn(binary, argv, os.environ, file_actions=file_actions,
                             setsigdef=DEFAULT_SIGNALS, setsigmask=())
    except OSError as error:
        os.close(read_fd)
        raise MeasureError(f"cannot start {binary}: {error}") from None
    finally:
        os.close(write_fd)
    core._live_pids.add(pid)
    return core.Proxy(binary, pid, read_fd, spawned_ns, host_port)


def start_ready_udp_proxy(binary, container_port):
    proxy = spawn_udp_proxy(binary, free_udp_port(), container_port)
    try:
        core.wait_ready([proxy])
    except MeasureError:
        core.stop_proxies([proxy])
        raise
    return proxy


def stop_proxy(proxy):
    if proxy is not None and proxy.pid in core._live_pids:
        core.stop_proxies([proxy])


def free_udp_port():
    """A loopback UDP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((LOOPBACK, 0))
        return holder.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of PID (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


# --------------------------------------------------------------------------- helper processes

_FORK = multiprocessing.get_context("fork")
_helpers = set()  # helper processes started and not yet reaped


def _helper_entry(target, conn, args):
    for signum in DEFAULT_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    try:
        result = target(conn, *args)
    except ConnectionRefusedError:  # ICMP port unreachable came back
        conn.send(("error", "connection refused: nothing listens on the target port"))
        return
    except BaseException as error:  # reported to the parent, which decides
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    conn.send(("result", result))


class Helper:
    """A forked Python process running TARGET(conn, *ARGS); it reports through a pipe."""

    def __init__(self, name, target, *args):
        self.name = name
        self.conn, child_conn = _FORK.Pipe(duplex=False)
        self.process = _FORK.Process(target=_helper_entry, args=(target, child_conn, args),
                                     daemon=True)
        self.process.start()
        child_conn.close()
        _helpers.add(self)

    def receive(self, timeout_s):
        """The next value the helper sends; raises if it fails, exits or stays silent."""
        if not self.conn.poll(timeout_s):
            raise MeasureError(f"the {self.name} sent nothing for {timeout_s:.0f} s")
        try:
            kind, value = self.conn.recv()
        except EOFError:
            self.process.join(TIMEOUT_S)
            raise MeasureError(f"the {self.name} exited without a result "
                               f"(exit code {self.process.exitcode})") from None
        if kind == "error":
            raise MeasureError(f"the {self.name} failed: {value}")
        return value

    def stop(self):
        """SIGINT (default action: end), SIGKILL after the timeout; reaps the process."""
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGINT)
            self.process.join(TIMEOUT_S)
            if self.process.is_alive():
                log(f"  warning: the {self.name} (PID {self.process.pid}) ignored SIGINT; "
                    f"killing it")
                self.process.kill()
        self.process.join()
        self.conn.close()
        _helpers.discard(self)


def stop_helpers():
    for helper in list(_helpers):
        if helper.process.is_alive():
            helper.process.kill()
        helper.process.join()
        _helpers.discard(helper)


# --------------------------------------------------------------------------- echo backend

def raise_buffers(sock, size):
    """Asks for SIZE-byte kernel buffers, past net.core.*mem_max where permitted; returns the
    receive buffer granted."""
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                         (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def echo_main(conn):
    """The container stand-in: sends every datagram back to where it came from, forever."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    granted = raise_buffers(sock, ECHO_BUFFER_BYTES)
    sock.bind((LOOPBACK, 0))
    conn.send(("ready", (sock.getsockname()[1], granted)))
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while True:
        data, address = recvfrom(2048)
        sendto(data, address)


_small_buffer_warned = False


def start_echo():
    """Starts an echo backend process; returns (helper, port)."""
    global _small_buffer_warned
    echo = Helper("echo backend", echo_main)
    try:
        port, granted = echo.receive(TIMEOUT_S)
    except MeasureError:
        echo.stop()
        raise
    if granted < ECHO_BUFFER_BYTES and not _small_buffer_warned:
        _small_buffer_warned = True
        log(f"  warning: the echo backend got a {granted}-byte receive buffer, not "
            f"{ECHO_BUFFER_BYTES} (no CAP_NET_ADMIN, net.core.rmem_max); the burst losses "
            f"may include the backend's")
    return echo, port


# --------------------------------------------------------------------------- rate clients

def timed_client(port):
    """A client socket connected to PORT whose receives give up after RESEND_S. A kernel receive
    timeout keeps one system call per receive (no poll before it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((LOOPBACK, port))
    seconds, fraction = divmod(RESEND_S, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                    struct.pack("ll", int(seconds), int(fraction * 1e6)))
    return sock


def rate_one(conn, port, duration_s, proxy_pid):
    """One client, closed loop: records every round trip of the timed window."""
    sock = timed_client(port)
    send, recv, clock = sock.send, sock.recv, time.perf_counter_ns
    latencies = []
    record = latencies.append
    measuring = False
    lost = seq = 0
    start_ns = cpu_start = None
    phase_end = clock() + int(WARMUP_S * 1e9)
    while True:
        seq += 1
        prefix = seq.to_bytes(8, "little")
        sent = clock()
        send(prefix + PADDING)
        while True:
            try:
                reply = recv(256)
            except BlockingIOError:  # SO_RCVTIMEO expired
                reply = None
                lost += 1
                break
            if reply[:8] == prefix:
                break  # else a late reply to a request already given up
        now = clock()
        if reply is not None and measuring:
            record(now - sent)
        if now >= phase_end:
            if measuring:
                break
            measuring = True
            cpu_start = cpu_ticks(proxy_pid) if proxy_pid else None
            start_ns, phase_end, lost = now, now + int(duration_s * 1e9), 0
    cpu_end = cpu_ticks(proxy_pid) if proxy_pid else None
    elapsed_s = (now - start_ns) / 1e9
    if not latencies:
        return dict(requests=0, elapsed=elapsed_s, lost=lost)
    latencies.sort()
    return dict(requests=len(latencies), elapsed=elapsed_s, lost=lost,
                p50=latencies[len(latencies) // 2] / 1e3,
                p99=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e3,
                cpu=None if cpu_start is None else (cpu_end - cpu_start) / CLOCK_TICKS)


def rate_paced(conn, port, rate, duration_s, proxy_pid):
    """One client at a fixed RATE of requests/s (sparse traffic, as most UDP services see):
    each request is sent on its slot and its reply awaited; counts the proxy's CPU meanwhile."""
    sock = timed_client(port)
    period_ns = int(1e9 / rate)
    clock = time.perf_counter_ns
    answered = lost = 0
    cpu_start = cpu_ticks(proxy_pid) if proxy_pid else None
    start = clock()
    for seq in range(int(rate * duration_s)):
        slot = start + seq * period_ns
        wait_ns = slot - clock()
        if wait_ns > 0:
            time.sleep(wait_ns / 1e9)
        prefix = seq.to_bytes(8, "little")
        sock.send(prefix + PADDING)
        while True:
            try:
                reply = sock.recv(256)
            except BlockingIOError:  # SO_RCVTIMEO expired
                lost += 1
                break
            if reply[:8] == prefix:
                answered += 1
                break
    cpu_end = cpu_ticks(proxy_pid) if proxy_pid else None
    return dict(requests=answered, elapsed=(clock() - start) / 1e9, lost=lost,
                cpu=None if cpu_start is None else (cpu_end - cpu_start) / CLOCK_TICKS)


def measure_paced(subject, rate, duration_s):
    """The proxy's CPU seconds per 100,000 requests when one client sends RATE requests/s."""
    if not subject.path:
        return {}
    result = run_client(subject, duration_s * 2 + TIMEOUT_S, rate_paced, rate, duration_s)
    if not result["requests"]:
        raise MeasureError(f"no replies at {rate} requests/s")
    if result["lost"]:
        log(f"    {subject.name}: {result['lost']} paced requests got no reply within "
            f"{RESEND_S * 1000:.0f} ms")
    return {"cpu_paced": result["cpu"] / result["requests"] * 100_000}


def rate_many(conn, port, clients, duration_s, proxy_pid):
    """CLIENTS sockets in one process, each in a closed loop, multiplexed with epoll."""
    poller = select.epoll()
    states = {}  # fd -> [socket, prefix of the outstanding request, its send time]
    socks = []
    clock = time.perf_counter_ns
    seq = 0
    for _ in range(clients):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect((LOOPBACK, port))
        socks.append(sock)
        poller.register(sock.fileno(), select.EPOLLIN)
        states[sock.fileno()] = [sock, b"", 0]
    for state in states.values():
        seq += 1
        state[1] = seq.to_bytes(8, "little")
        state[2] = clock()
        state[0].send(state[1] + PADDING)
    poll = poller.poll
    resend_ns, check_ns = int(RESEND_S * 1e9), int(RESEND_CHECK_S * 1e9)
    measuring = False
    done = lost = 0
    start_ns = cpu_start = None
    now = clock()
    phase_end, next_check = now + int(WARMUP_S * 1e9), now + check_ns
    while True:
        events = poll(RESEND_CHECK_S)
        now = clock()
        for fd, _ in events:
            state = states[fd]
            try:
                reply = state[0].recv(256)
            except BlockingIOError:
                continue
            if reply[:8] != state[1]:
                continue  # a late reply to a request already given up
            done += 1
            seq += 1
            state[1] = prefix = seq.to_bytes(8, "little")
            state[2] = now
            state[0].send(prefix + PADDING)
        if now >= next_check:
            next_check = now + check_ns
            for state in states.values():
                if now - state[2] >= resend_ns:
                    lost += 1
                    seq += 1
                    state[1] = seq.to_bytes(8, "little")
                    state[2] = now
                    state[0].send(state[1] + PADDING)
        if now >= phase_end:
            if measuring:
                break
            measuring = True
            cpu_start = cpu_ticks(proxy_pid) if proxy_pid else None
            start_ns, phase_end, done, lost = now, now + int(duration_s * 1e9), 0, 0
    cpu_end = cpu_ticks(proxy_pid) if proxy_pid else None
    for sock in socks:
        sock.close()
    poller.close()
    return dict(requests=done, elapsed=(now - start_ns) / 1e9, lost=lost,
                cpu=None if cpu_start is None else (cpu_end - cpu_start) / CLOCK_TICKS)


# --------------------------------------------------------------------------- measurements

def run_client(subject, timeout_s, client, *args):
    """Starts an echo backend and the subject's proxy in front of it (none for direct), runs
    CLIENT(conn, target port, *ARGS, proxy PID or None) in a helper process and returns what it
    reports; stops all three, whatever happens."""
    echo, echo_port = start_echo()
    proxy = worker = None
    try:
        if subject.path:
            proxy = start_ready_udp_proxy(subject.path, echo_port)
        target = proxy.host_port if proxy else echo_port
        worker = Helper("client process", client, target, *args, proxy.pid if proxy else None)
        try:
            return worker.receive(timeout_s)
        finally:
            if proxy:
                core.ensure_alive(proxy)  # a proxy that died explains a failure best
    finally:
        if worker is not None:
            worker.stop()
        stop_proxy(proxy)
        echo.stop()


def measure_rate(subject, clients, duration_s):
    """Requests/s (and, for one client, p50/p99 in µs) with CLIENTS clients in closed loops,
    plus the proxy's CPU seconds per 100,000 requests."""
    timeout_s = WARMUP_S + duration_s + TIMEOUT_S
    if clients == 1:
        result = run_client(subject, timeout_s, rate_one, duration_s)
    else:
        result = run_client(subject, timeout_s, rate_many, clients, duration_s)
    if not result["requests"]:
        raise MeasureError(f"no replies in {duration_s:.0f} s "
                           f"({result['lost']} requests timed out)")
    if result["lost"]:
        log(f"    {subject.name}: {result['lost']} requests got no reply within "
            f"{RESEND_S * 1000:.0f} ms and were resent")
    suffix = f"{clients}"
    values = {f"rate{suffix}": result["requests"] / result["elapsed"]}
    if result.get("cpu") is not None:
        values[f"cpu{suffix}"] = result["cpu"] / result["requests"] * 100_000
    if "p50" in result:
        values["p50"], values["p99"] = result["p50"], result["p99"]
    return values


def open_burst_clients(port, count):
    """COUNT non-blocking UDP sockets connected to PORT (so each has its own source port)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.setblocking(False)
            sock.connect((LOOPBACK, port))
    except OSError as error:
        for sock in socks:
            sock.close()
        raise MeasureError(f"client socket {len(socks)} failed: {error}") from None
    return socks


def collect_replies(poller, socks, payloads, pending, deadline):
    """Receives replies until every fd in PENDING has its own payload back or DEADLINE
    (monotonic) passes; answered fds leave PENDING and the poller."""
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        for fd, _ in poller.poll(min(remaining, 0.1)):
            try:
                reply = socks[fd].recv(256)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            if fd in pending and reply == payloads[fd]:
                pending.discard(fd)
                poller.unregister(fd)


def send_all(socks, payloads, fds):
    """Sends each fd's payload once; a full socket buffer counts as a lost datagram."""
    for fd in fds:
        try:
            socks[fd].send(payloads[fd])
        except (BlockingIOError, ConnectionRefusedError):
            pass


def measure_burst(subject, count):
    """Loss (%) of the first datagrams of COUNT clients sent at once; then, with a proxy, the
    private memory (KiB) it holds for their COUNT sessions."""
    echo, echo_port = start_echo()
    proxy = poller = None
    clients = []
    try:
        if subject.path:
            proxy = start_ready_udp_proxy(subject.path, echo_port)
            time.sleep(SETTLE_S)
            before = core.private_kb(proxy.pid)
        clients = open_burst_clients(proxy.host_port if proxy else echo_port, count)
        socks = {sock.fileno(): sock for sock in clients}
        payloads = {fd: index.to_bytes(8, "little") + PADDING
                    for index, fd in enumerate(socks)}
        poller = select.epoll()
        for fd in socks:
            poller.register(fd, select.EPOLLIN)
        pending = set(socks)
        send_all(socks, payloads, list(socks))  # back to back, unpaced
        collect_replies(poller, socks, payloads, pending, time.monotonic() + BURST_WAIT_S)
        if proxy:
            core.ensure_alive(proxy)
        values = {"loss": 100.0 * len(pending) / count}
        log(f"    {subject.name}: {len(pending)} of {count} got no reply")
        if not proxy:
            return values
        # Fill the session table: silent clients resend, paced, until each has its reply.
        deadline = time.monotonic() + TIMEOUT_S
        while pending and time.monotonic() < deadline:
            silent = sorted(pending)
            for start in range(0, len(silent), RETRY_CHUNK):
                send_all(socks, payloads, silent[start:start + RETRY_CHUNK])
                collect_replies(poller, socks, payloads, pending,
                                min(deadline, time.monotonic() + 0.01))
            collect_replies(poller, socks, payloads, pending,
                            min(deadline, time.monotonic() + RETRY_WAIT_S))
        core.ensure_alive(proxy)
        if pending:
            values["memory"] = MeasureError(
                f"{len(pending)} of {count} clients still had no reply after resending "
                f"for {TIMEOUT_S:.0f} s")
            return values
        time.sleep(SETTLE_S)
        core.ensure_alive(proxy)
        values["memory"] = core.private_kb(proxy.pid) - before
        return values
    finally:
        stop_proxy(proxy)
        if poller is not None:
            poller.close()
        for sock in clients:
            sock.close()
        echo.stop()


# --------------------------------------------------------------------------- orchestration

def record(subject, group, action):
    """Runs ACTION once for SUBJECT; it returns {key: value}, where a MeasureError value marks
    that key alone as failed. A failure of the whole group skips its later rounds."""
    if group in subject.errors:
        return
    try:
        values = action()
    except (MeasureError, OSError) as error:
        subject.errors[group] = str(error)
        log(f"  {subject.name}: {group} failed: {error}")
        return
    for key, value in values.items():
        if isinstance(value, MeasureError):
            subject.errors.setdefault(key, str(value))
            log(f"  {subject.name}: {key} failed: {value}")
        else:
            subject.samples.setdefault(key, []).append(value)


def run_all(subjects, counts):
    rounds, duration = counts["rounds"], counts["duration"]
    for clients in (1, counts["clients"]):
        log(f"request/response, {clients} client(s): {duration:g} s per run, "
            f"{rounds} round(s)")
        for number, subject in core.round_robin(subjects, rounds):
            log(f"  round {number + 1}: {subject.name}")
            record(subject, f"rate with {clients} client(s)",
                   lambda: measure_rate(subject, clients, duration))
    log(f"paced: 1 client at {PACED_RATE:,} requests/s, {duration:g} s per run, {rounds} round(s)")
    for number, subject in core.round_robin(subjects, rounds):
        log(f"  round {number + 1}: {subject.name}")
        record(subject, "paced", lambda: measure_paced(subject, PACED_RATE, duration))
    log(f"burst: {counts['burst']} new clients at once, {rounds} round(s)")
    for number, subject in core.round_robin(subjects, rounds):
        log(f"  round {number + 1}: {subject.name}")
        record(subject, "burst", lambda: measure_burst(subject, counts["burst"]))


def rows(counts):
    """(label, format, key, higher is better, transform of each sample) for every row."""
    many, burst = counts["clients"], counts["burst"]
    same = lambda value: value  # noqa: E731
    return [
        ("requests/s, 1 client (higher is better)", "{:,.0f}", "rate1", True, same),
        ("round trip p50, 1 client (µs)", "{:.0f}", "p50", False, same),
        ("round trip p99, 1 client (µs)", "{:.0f}", "p99", False, same),
        ("proxy CPU per 100,000 requests, 1 client (s)", "{:.2f}", "cpu1", False, same),
        (f"requests/s, {many} clients (higher is better)", "{:,.0f}", f"rate{many}", True,
         same),
        (f"proxy CPU per 100,000 requests, {many} clients (s)", "{:.2f}", f"cpu{many}", False,
         same),
        (f"proxy CPU per 100,000 requests, 1 client at {PACED_RATE:,}/s (s)", "{:.2f}",
         "cpu_paced", False, same),
        (f"no reply, {burst:,} new clients at once (%)", "{:.1f}", "loss", False, same),
        (f"private memory added, {burst:,} sessions (MiB)", "{:.1f}", "memory", False,
         lambda kib: kib / 1024),
        ("private memory per session (KiB)", "{:.2f}", "memory", False,
         lambda kib: kib / burst),
    ]


def render_table(subjects, counts):
    """Cells: median over the rounds, with (min–max) when there were several; "–" where a
    figure does not apply (no proxy), "error" where it could not be measured."""
    header = ["metric"] + [s.name for s in subjects]
    bases = core.ratio_bases([s for s in subjects if s.path])
    header += [title for _, _, title in bases]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for label, fmt, key, higher_better, transform in rows(counts):
        medians, cells = {}, [label]
        for subject in subjects:
            samples = [transform(v) for v in subject.samples.get(key, [])]
            if samples:
                medians[subject.name] = statistics.median(samples)
                cell = fmt.format(medians[subject.name])
                if len(samples) > 1:
                    cell += f" ({fmt.format(min(samples))}–{fmt.format(max(samples))})"
            elif key in subject.errors or (subject.path and subject.errors):
                cell = "error"
            else:
                cell = "–"
            cells.append(cell)
        for subject, others, _ in bases:
            own = medians.get(subject.name)
            known = [medians[o.name] for o in others if o.name in medians]
            best = (max(known) if higher_better else min(known)) if known else None
            cells.append(f"{own / best:.2f}" if own is not None and best else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line

def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="measure-udp.sh",
        description="Measures the UDP request/response rate, first-datagram loss under a "
                    "burst of new clients and memory per session of docker-proxy binaries, "
                    "interleaved, and prints a markdown table. NAME= (no BIN) means no proxy.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 s per rate run, 1 round")
    parser.add_argument("--out", metavar="FILE", help="also write the table to FILE")
    parser.add_argument("binaries", nargs="+", metavar="NAME=BIN")
    args = parser.parse_args(argv)
    subjects = []
    for spec in args.binaries:
        name, sep, path = spec.partition("=")
        if not sep or not name:
            parser.error(f"expected NAME=BIN or NAME=, got {spec!r}")
        if any(s.name == name for s in subjects):
            parser.error(f"duplicate name {name!r}")
        resolved = None
        if path:
            resolved = core.resolve_binary(path)
            if resolved is None:
                parser.error(f"{path!r} is not an executable file")
        subjects.append(Subject(name, resolved))
    return args, subjects


def main(argv):
    args, subjects = parse_args(argv)
    counts = QUICK if args.quick else FULL
    # The burst clients here, the proxies' backend sockets there (the limit is inherited).
    core.raise_fd_limit(CHILD_NOFILE)
    for subject in subjects:
        log(f"{subject.name}: {subject.path or 'no proxy (clients talk to the backend)'}")
    # On SIGTERM too, unwind through the cleanup below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run_all(subjects, counts)
    finally:
        stop_helpers()
        core.kill_leftovers()
    table = render_table(subjects, counts)
    sys.stdout.write(table)
    if args.out:
        with open(args.out, "w") as out:
            out.write(table)
    unmeasured = [s.name for s in subjects if not s.samples]
    if unmeasured:
        log(f"could not measure at all: {', '.join(unmeasured)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

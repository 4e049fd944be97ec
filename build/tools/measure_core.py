#!/usr/bin/env python3
"""Measures the core costs of docker-proxy binaries side by side; run via build/measure-core.sh.

For every binary, interleaved round robin so that noise on a shared machine hits all alike:
  1. start-up: exec (posix_spawn) to "0\\n" on fd 3, median/min/max over many runs;
  2. idle process memory: PSS and RSS (smaps_rollup) of many idle proxies running at once;
  3. idle connection memory: growth of a proxy's private memory (Private_Clean + Private_Dirty)
     per relayed connection that has carried one small message and then idles.
Everything runs on 127.0.0.1, every wait is bounded, and only PIDs started here are signalled.
"""

import argparse
import os
import resource
import select
import selectors
import signal
import socket
import statistics
import sys
import threading
import time

LOOPBACK = "127.0.0.1"
TIMEOUT_S = 10.0           # bound for every wait
SETTLE_S = 1.0             # pause before reading memory figures
STOP_GRACE_S = 0.05        # pause between readiness and SIGINT in the start-up runs
MESSAGE = b"docker-proxy-16b"  # sent once by every client connection (16 bytes)
UNUSED_PORT = 9            # container port for proxies that never relay anything
CHILD_NOFILE = 8192        # RLIMIT_NOFILE the proxies inherit (at least)

FULL = dict(startups=20, processes=50, connections=1000, rounds=3)
QUICK = dict(startups=5, processes=10, connections=200, rounds=1)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class MeasureError(Exception):
    """A measurement of one binary failed; the run goes on with the others."""


def log(message):
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes

_live_pids = set()  # every proxy started and not yet reaped


class Proxy:
    """One running proxy: its PID, the read end of its fd 3 pipe and its spawn time."""

    def __init__(self, binary, pid, ready_fd, spawned_ns, host_port):
        self.binary = binary
        self.pid = pid
        self.ready_fd = ready_fd
        self.spawned_ns = spawned_ns
        self.host_port = host_port
        self.ready_ns = None
        self.status_bytes = b""


def spawn_proxy(binary, host_port, container_port):
    """Starts BINARY with stdio on /dev/null and fd 3 the write end of a fresh pipe."""
    read_fd, write_fd = os.pipe()  # both close-on-exec; only the dup2'd fd 3 survives exec
    if write_fd == 3:  # dup2(3, 3) would keep close-on-exec set
        moved = os.dup(write_fd)
        os.close(write_fd)
        write_fd = moved
    argv = [binary, "-proto", "tcp",
            "-host-ip", LOOPBACK, "-host-port", str(host_port),
            "-container-ip", LOOPBACK, "-container-port", str(container_port)]
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, write_fd, 3),
    ]
    # Python ignores SIGPIPE (and the caller may ignore SIGINT); give the child defaults.
    default_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                       signal.SIGPIPE, signal.SIGXFSZ)
    spawned_ns = time.perf_counter_ns()
    try:
        pid = os.posix_spawn(binary, argv, os.environ, file_actions=file_actions,
                             setsigdef=default_signals, setsigmask=())
    except OSError as error:
        os.close(read_fd)
        raise MeasureError(f"cannot start {binary}: {error}") from None
    finally:
        os.close(write_fd)
    _live_pids.add(pid)
    return Proxy(binary, pid, read_fd, spawned_ns, host_port)


def read_status(proxy):
    """Reads what is available on fd 3; returns True once the status is complete."""
    chunk = os.read(proxy.ready_fd, 4096)
    if chunk:
        proxy.status_bytes += chunk
        if proxy.status_bytes.startswith(b"0\n"):
            proxy.ready_ns = time.perf_counter_ns()
            return True
        # A failure report ("1\n<text>") ends at EOF; anything else is wrong once 2 bytes are in.
        return len(proxy.status_bytes) >= 2 and not proxy.status_bytes.startswith(b"1\n")
    return True  # EOF


def wait_ready(proxies, timeout_s=TIMEOUT_S):
    """Waits until every proxy has written "0\\n" on fd 3; raises on failure or timeout."""
    pending = {proxy.ready_fd: proxy for proxy in proxies}
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout_s
    while pending:
        remaining_ms = (deadline - time.monotonic()) * 1000
        if remaining_ms <= 0:
            raise MeasureError(f"{len(pending)} of {len(proxies)} proxies not ready "
                               f"after {timeout_s:.0f} s")
        for fd, _ in poller.poll(remaining_ms):
            proxy = pending[fd]
            if read_status(proxy):
                poller.unregister(fd)
                del pending[fd]
                close_status_pipe(proxy)
                if proxy.ready_ns is None:
                    raise MeasureError(describe_failure(proxy))


def close_status_pipe(proxy):
    if proxy.ready_fd is not None:
        os.close(proxy.ready_fd)
        proxy.ready_fd = None


def describe_failure(proxy):
    text = proxy.status_bytes.decode(errors="replace").strip().replace("\n", " ")
    if text.startswith("1 "):
        return f"proxy reported failure: {text[2:]}"
    if text:
        return f"unexpected status on fd 3: {text!r}"
    return "proxy closed fd 3 without a status (exited?)"


def start_ready_proxy(binary, host_port, container_port):
    proxy = spawn_proxy(binary, host_port, container_port)
    try:
        wait_ready([proxy])
    except MeasureError:
        stop_proxies([proxy])
        raise
    return proxy


def reap(pid, deadline):
    """Waits for PID until DEADLINE (monotonic); returns its wait status or None."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            _live_pids.discard(pid)
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.002)


def stop_proxies(proxies):
    """SIGINTs the proxies, reaps them (SIGKILL after the timeout); warns if a proxy that
    had signalled readiness does not end with exit status 0."""
    for proxy in proxies:
        os.kill(proxy.pid, signal.SIGINT)
    deadline = time.monotonic() + TIMEOUT_S
    for proxy in proxies:
        status = reap(proxy.pid, deadline)
        if status is None:
            log(f"  warning: {proxy.binary} (PID {proxy.pid}) ignored SIGINT for "
                f"{TIMEOUT_S:.0f} s; killing it")
            os.kill(proxy.pid, signal.SIGKILL)
            reap(proxy.pid, float("inf"))
        elif proxy.ready_ns is not None and not (os.WIFEXITED(status)
                                                 and os.WEXITSTATUS(status) == 0):
            log(f"  warning: {proxy.binary} (PID {proxy.pid}) {describe_status(status)} "
                f"after SIGINT, not exit status 0")
        close_status_pipe(proxy)


def describe_status(status):
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"ended with exit status {os.WEXITSTATUS(status)}"


def kill_leftovers():
    """Last resort on abnormal exit: SIGKILL and reap the proxies this script started."""
    for pid in list(_live_pids):
        try:
            os.kill(pid, signal.SIGKILL)
            reap(pid, float("inf"))
        except (ProcessLookupError, ChildProcessError):
            _live_pids.discard(pid)


def ensure_alive(proxy):
    done, status = os.waitpid(proxy.pid, os.WNOHANG)
    if done:
        _live_pids.discard(proxy.pid)
        raise MeasureError(f"proxy {describe_status(status)} during the measurement")


# --------------------------------------------------------------------------- memory figures

def smaps_rollup_kb(pid):
    """Returns the kB fields of /proc/PID/smaps_rollup as a dict."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    if "Pss" not in fields:  # a zombie has no mappings
        raise MeasureError(f"PID {pid} has exited")
    return fields


def private_kb(pid):
    fields = smaps_rollup_kb(pid)
    return fields["Private_Clean"] + fields["Private_Dirty"]


# --------------------------------------------------------------------------- network helpers

def free_ports(count):
    """Returns COUNT distinct loopback ports that were free a moment ago."""
    holders = []
    try:
        for _ in range(count):
            holder = socket.socket()
            holder.bind((LOOPBACK, 0))
            holders.append(holder)
        return [holder.getsockname()[1] for holder in holders]
    finally:
        for holder in holders:
            holder.close()


class Backend:
    """A container stand-in: accepts and holds connections, reads, never sends."""

    def __init__(self):
        self.listener = socket.create_server((LOOPBACK, 0), backlog=4096)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.complete = 0  # connections that delivered a whole MESSAGE
        self._received = {}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.listener, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.05):
                if key.fileobj is self.listener:
                    self._accept_all()
                else:
                    self._receive(key.fileobj)

    def _accept_all(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self._received[conn] = 0
            self._selector.register(conn, selectors.EVENT_READ)
            self.accepted += 1

    def _receive(self, conn):
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except ConnectionError:
            data = b""
        if not data:  # peer closed: stop watching, keep the socket until close()
            self._selector.unregister(conn)
            return
        before = self._received[conn]
        self._received[conn] = before + len(data)
        if before < len(MESSAGE) <= before + len(data):
            self.complete += 1

    def close(self):
        self._stop.set()
        self._thread.join(TIMEOUT_S)
        for conn in self._received:
            conn.close()
        self.listener.close()
        self._selector.close()


def wait_until(condition, describe, timeout_s=TIMEOUT_S):
    """Polls CONDITION until true; on timeout raises with the text DESCRIBE() returns."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise MeasureError(f"timed out after {timeout_s:.0f} s waiting for {describe()}")
        time.sleep(0.005)


def open_clients(port, count):
    """Opens COUNT connections to the proxy, each sending MESSAGE once."""
    clients = []
    try:
        for _ in range(count):
            client = socket.create_connection((LOOPBACK, port), timeout=TIMEOUT_S)
            clients.append(client)
            client.sendall(MESSAGE)
    except OSError as error:
        for client in clients:
            client.close()
        raise MeasureError(f"client connection {len(clients)} failed: {error}") from None
    return clients


# --------------------------------------------------------------------------- measurements

def measure_startup(binary):
    """Milliseconds from spawn to "0\\n" on fd 3 for one run (host port 0)."""
    proxy = start_ready_proxy(binary, 0, UNUSED_PORT)
    time.sleep(STOP_GRACE_S)  # docker-proxy may install its SIGINT handler just after "0\n"
    stop_proxies([proxy])
    return (proxy.ready_ns - proxy.spawned_ns) / 1e6


def measure_idle_processes(binary, count):
    """Mean PSS and RSS (MiB) of COUNT idle proxies of BINARY running at once."""
    proxies = []
    try:
        for port in free_ports(count):
            proxies.append(spawn_proxy(binary, port, UNUSED_PORT))
        wait_ready(proxies)
        time.sleep(SETTLE_S)
        rollups = [smaps_rollup_kb(proxy.pid) for proxy in proxies]
    finally:
        stop_proxies(proxies)
    return (statistics.mean(r["Pss"] for r in rollups) / 1024,
            statistics.mean(r["Rss"] for r in rollups) / 1024)


def measure_idle_connections(binary, count):
    """Growth of the proxy's private memory (KiB) per relayed, idle connection."""
    backend = Backend()
    proxy = None
    clients = []
    try:
        proxy = start_ready_proxy(binary, free_ports(1)[0], backend.port)
        before = private_kb(proxy.pid)
        clients = open_clients(proxy.host_port, count)
        wait_until(lambda: backend.complete >= count,
                   lambda: f"the backend to receive {count} messages "
                           f"(accepted {backend.accepted}, received {backend.complete})")
        time.sleep(SETTLE_S)
        ensure_alive(proxy)
        after = private_kb(proxy.pid)
    finally:
        if proxy is not None and proxy.pid in _live_pids:
            stop_proxies([proxy])
        for client in clients:
            client.close()
        backend.close()
    return (after - before) / count


# --------------------------------------------------------------------------- orchestration

class Subject:
    """One binary under test and the samples gathered for it."""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.samples = {}   # metric key -> list of values
        self.errors = {}    # metric key -> first error text

    def record(self, key, action):
        if key in self.errors:
            return
        try:
            value = action()
        except (MeasureError, OSError) as error:
            self.errors[key] = str(error)
            log(f"  {self.name}: {key} failed: {error}")
            return
        self.samples.setdefault(key, []).append(value)


def round_robin(subjects, rounds):
    """Yields (round, subject), rotating the starting binary every round."""
    for number in range(rounds):
        shift = number % len(subjects)
        for subject in subjects[shift:] + subjects[:shift]:
            yield number, subject


def run_all(subjects, counts):
    log(f"start-up: {counts['startups']} runs per binary")
    for _, subject in round_robin(subjects, counts["startups"]):
        subject.record("startup", lambda: measure_startup(subject.path))
    log(f"idle processes: {counts['processes']} at once, {counts['rounds']} round(s)")
    for number, subject in round_robin(subjects, counts["rounds"]):
        log(f"  round {number + 1}: {subject.name}")
        subject.record("processes", lambda: measure_idle_processes(subject.path,
                                                                   counts["processes"]))
    log(f"idle connections: {counts['connections']} through one proxy, "
        f"{counts['rounds']} round(s)")
    for number, subject in round_robin(subjects, counts["rounds"]):
        log(f"  round {number + 1}: {subject.name}")
        subject.record("connections", lambda: measure_idle_connections(subject.path,
                                                                       counts["connections"]))


def metrics(counts):
    """(label, format, key, extractor over the samples) for every table row."""
    median = statistics.median
    return [
        (f"start-up, median of {counts['startups']} (ms)", "{:.2f}", "startup",
         median),
        ("start-up, min (ms)", "{:.2f}", "startup", min),
        ("start-up, max (ms)", "{:.2f}", "startup", max),
        (f"PSS per idle process, {counts['processes']} running (MiB)", "{:.2f}",
         "processes", lambda s: median(pss for pss, _ in s)),
        (f"RSS per idle process, {counts['processes']} running (MiB)", "{:.2f}",
         "processes", lambda s: median(rss for _, rss in s)),
        (f"private memory per idle connection, {counts['connections']} open (KiB)", "{:.1f}",
         "connections", median),
    ]


def ratio_bases(subjects):
    """For every binary with other binaries named orig*: (column title, those others)."""
    bases = []
    for subject in subjects:
        others = [o for o in subjects if o is not subject and o.name.startswith("orig")]
        if others:
            title = "best other original" if subject.name.startswith("orig") else "best original"
            bases.append((subject, others, f"{subject.name} / {title}"))
    return bases


def render_table(subjects, counts):
    header = ["metric"] + [s.name for s in subjects]
    bases = ratio_bases(subjects)
    header += [title for _, _, title in bases]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for label, fmt, key, extract in metrics(counts):
        values = {s.name: extract(s.samples[key]) if s.samples.get(key) else None
                  for s in subjects}
        cells = [label] + [fmt.format(values[s.name]) if values[s.name] is not None
                           else "error" for s in subjects]
        for subject, others, _ in bases:
            known = [values[o.name] for o in others if values[o.name] is not None]
            own = values[subject.name]
            best = min(known) if known else None
            cells.append(f"{own / best:.2f}" if own is not None and best else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line

def resolve_binary(path):
    """PATH as given (relative to the current directory), else relative to the repository."""
    for candidate in (path, os.path.join(REPO_ROOT, path)):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="measure-core.sh",
        description="Measures start-up time, idle memory per process and per connection "
                    "of docker-proxy binaries, interleaved, and prints a markdown table.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 5 start-ups, 10 processes, 200 connections")
    parser.add_argument("--out", metavar="FILE", help="also write the table to FILE")
    parser.add_argument("binaries", nargs="+", metavar="NAME=BIN")
    args = parser.parse_args(argv)
    subjects = []
    for spec in args.binaries:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            parser.error(f"expected NAME=BIN, got {spec!r}")
        if any(s.name == name for s in subjects):
            parser.error(f"duplicate name {name!r}")
        resolved = resolve_binary(path)
        if resolved is None:
            parser.error(f"{path!r} is not an executable file")
        subjects.append(Subject(name, resolved))
    return args, subjects


def raise_fd_limit(needed):
    """Raises RLIMIT_NOFILE for this script; the proxies inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(needed, CHILD_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        log(f"warning: RLIMIT_NOFILE hard limit {hard} is below {wanted}")
        wanted = hard
    if soft == resource.RLIM_INFINITY or soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv):
    args, subjects = parse_args(argv)
    counts = QUICK if args.quick else FULL
    # clients + backend ends + proxies' pipes, with room to spare
    raise_fd_limit(2 * counts["connections"] + counts["processes"] + 256)
    for subject in subjects:
        log(f"{subject.name}: {subject.path}")
    # On SIGTERM too, unwind through the cleanup below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run_all(subjects, counts)
    finally:
        kill_leftovers()
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

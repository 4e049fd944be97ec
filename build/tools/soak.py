#!/usr/bin/env python3
"""Soak test of one docker-proxy binary under mixed TCP and UDP load; run via build/soak.sh.

The script starts a TCP proxy and a UDP proxy of the binary, each in front of an echo backend
run here (the TCP echo in two forked processes sharing one listener, the UDP echo in a third),
then drives mixed load through both proxies for the requested time from five forked worker
processes:
  - short TCP connections, 48 at a time: connect, send a 16-byte header (magic, length, CRC-32,
    id) and a random-sized payload (log-uniform, 0 B to 256 KiB), read the echo back while
    sending and compare every byte with what was sent, then the length and CRC-32; 65 % then
    close, 30 % half-close (shutdown(SHUT_WR)) after sending and must see every byte and then
    EOF, 5 % reset the connection (SO_LINGER 0) after a random part of the payload;
  - 4 long-lived TCP streams: data sent continuously (up to 1 MiB in flight) and verified byte
    for byte as it comes back; each lives 20-60 s, then half-closes and must get the rest and EOF;
  - UDP request/response from 384 client sockets (source ports), one request at a time each: a
    16-byte header (socket nonce, length, sequence number) and a random payload, 0 to 8192 bytes
    in all; the reply must be the request byte for byte. A request without a reply after 2 s
    is late: its socket waits aside up to 10 s more for it (late, or else lost) and the client
    goes on from a new socket (a new source port, so a new session in the proxy);
  - bursts every 3-7 s, alternately: 100 TCP connections opened at once (payloads up to 16 KiB,
    same checks), or 128 UDP sockets sending one datagram each back to back.
Every second it samples each proxy: private memory (Private_Clean + Private_Dirty of
/proc/PID/smaps_rollup), open fds (/proc/PID/fd), threads, CPU time and liveness, the kernel's
drop counters of the UDP sockets (/proc/net/udp) and the counters of the load. It prints a line
every 10 s and a summary at the end, and fails (exit status 1) on any corrupted byte, any lost
TCP reply, a proxy that died, a relay that completed nothing for 5 s while the other one did
(the proxy's threads are then described from /proc), UDP loss above 1 %, or growth of a proxy's
private memory (medians) or open fds (minimums) between the second and the last quarter of the
samples. The first lost TCP replies are described on stderr (client port, time, bytes), to be
matched with the proxy's own log (--log-dir, -log-level debug).

Everything runs on 127.0.0.1, every wait is bounded, and only PIDs started here are signalled.
"""

import argparse
import errno
import multiprocessing
import os
import random
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.dont_write_bytecode = True  # importing measure_core leaves no __pycache__ in the tree
import measure_core as core  # noqa: E402
from measure_core import MeasureError, log  # noqa: E402

LOOPBACK = core.LOOPBACK
TIMEOUT_S = core.TIMEOUT_S          # bound for start-up and stop waits
SAMPLE_S = 1.0                      # sampling period
PROGRESS_EVERY = 10                 # samples between progress lines
STALL_S = 20.0                      # a TCP connection without progress this long is lost
DRAIN_S = STALL_S + 5.0             # after the load stops: time for connections in flight
UDP_REPLY_WAIT_S = 2.0              # a UDP request without a reply this long is late...
UDP_LATE_GRACE_S = 10.0             # ...and lost if none comes in this much more time
AFTER_LOAD_MAX_S = 12.0             # longest wait for the proxies to settle after the load
UDP_TIMEOUT_DEFAULT = "5s"          # -udp-timeout for binaries that take it (sessions churn)

POOL_BYTES = 4 << 20                # random bytes each worker draws payloads from
MAX_PAYLOAD = 256 << 10             # largest short-connection payload
BURST_PAYLOAD = 16 << 10            # largest payload of a burst connection
IO_CHUNK = 256 << 10                # most bytes per send/recv call
LONG_WINDOW = 1 << 20               # most unverified bytes in flight per long stream
LONG_LIFETIME_S = (20.0, 60.0)
UDP_MAX = 8192                      # largest UDP datagram sent
BURST_INTERVAL_S = (3.0, 7.0)
TCP_BURST = 100
UDP_BURST = 128
FLUSH_S = 0.25                      # how often a worker publishes its counters
LOSSES_REPORTED = 10                # lost TCP replies each process describes on stderr

# Limits of the verdict (see docs/reliability.md).
MEM_MARGIN_KIB = 4096               # private memory: Q4 median may exceed Q2 median by this
MEM_MARGIN_FRACTION = 0.10          #   plus this share of the Q2 median
FD_MARGIN = 32                      # fds (minimums of the quarters): likewise, and for the
                                    # UDP proxy UDP_BURST more (burst sessions come and go)
FD_MARGIN_FRACTION = 0.10
UDP_LOSS_LIMIT = 0.01               # share of UDP requests without a reply
MIN_TREND_SAMPLES = 8               # fewer load samples: the trend check is skipped
# The fd floor of a quarter follows the connections in flight at its quietest sample; with the
# 15 samples a quarter of a 60 s run holds, a change of the load's pace moves it by more than a
# leak would (seen: floor 40 then 78, and 12 fds after the load as before it). Below this many
# load samples the fd trend is shown but not judged; the after-load check (every fd back, not
# only every socket) is the leak check then, and it applies to every run.
MIN_FD_TREND_SAMPLES = 240
FD_AFTER_MARGIN = 0                 # fds a proxy may hold after the load beyond its idle count
STALL_WATCH_S = 5                   # samples without any completed exchange: a stall

TCP_HEADER = struct.Struct("<4sIII")  # magic, payload length, CRC-32 of the payload, id
UDP_HEADER = struct.Struct("<IIQ")    # socket nonce, datagram length, sequence number
TCP_MAGIC = b"SOAK"
LINGER_RESET = struct.pack("ii", 1, 0)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                   signal.SIGPIPE, signal.SIGXFSZ)  # for the proxies: what a shell gives them
# For the forked load and echo processes: SIGPIPE stays ignored, as Python sets it, so that a send
# to a connection the peer has reset raises EPIPE. With the default action, such a send killed an
# echo process outright, taking every connection it served with it (the "lost replies" of earlier
# runs: see docs/reliability.md).
FORKED_DEFAULT_SIGNALS = tuple(s for s in DEFAULT_SIGNALS if s != signal.SIGPIPE)
READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE

# What each load process does: short TCP connections kept open at once, long streams, UDP
# client sockets in closed loop, bursts. Several processes, so that even on a 2-core machine
# the Python load generator keeps the proxies busy.
WORKERS = [
    dict(name="tcp-short-1", short=24),
    dict(name="tcp-short-2", short=24),
    dict(name="tcp-long+udp", long=4, udp=128),
    dict(name="udp", udp=256),
    dict(name="bursts", burst=True),
]

COUNTERS = [
    "tcp_started", "tcp_ok", "tcp_halfclosed", "tcp_reset", "tcp_corrupt_conns",
    "tcp_lost", "lost_connect", "lost_eof", "lost_reset", "lost_stall", "lost_unfinished",
    "tcp_bytes_sent", "tcp_bytes_verified", "tcp_bytes_corrupt",
    "long_started", "long_ok",
    "udp_sent", "udp_answered", "udp_late", "udp_lost", "udp_lost_empty", "udp_corrupt",
    "udp_bytes_corrupt", "udp_bytes_verified", "udp_stray", "udp_send_errors",
    "tcp_bursts", "udp_bursts",
    "echo_accepted", "echo_bytes", "echo_resets", "echo_empty", "udp_echo_datagrams",
    "errors",
]
C = {name: index for index, name in enumerate(COUNTERS)}
CTL_STOP_LOAD = 0
CTL_STOP_BACKENDS = 1

_FORK = multiprocessing.get_context("fork")


# --------------------------------------------------------------------------- shared counters

class Stats:
    """A process's own counters; published to its slot of the shared array now and then."""

    def __init__(self, shared, slot):
        self.shared = shared
        self.base = slot * len(COUNTERS)
        self.values = [0] * len(COUNTERS)
        self.flushed_at = 0.0

    def add(self, name, amount=1):
        self.values[C[name]] += amount

    def flush(self, now=None):
        now = time.monotonic() if now is None else now
        if now - self.flushed_at >= FLUSH_S:
            for index, value in enumerate(self.values):
                self.shared[self.base + index] = value
            self.flushed_at = now

    def final(self):
        for index, value in enumerate(self.values):
            self.shared[self.base + index] = value


def totals(shared, slots):
    sums = dict.fromkeys(COUNTERS, 0)
    for slot in range(slots):
        base = slot * len(COUNTERS)
        for index, name in enumerate(COUNTERS):
            sums[name] += shared[base + index]
    return sums


# --------------------------------------------------------------------------- load: TCP

def count_diff(data, expected):
    """Bytes of DATA that differ from EXPECTED (a shorter bytes-like), extra bytes included."""
    differing = sum(1 for a, b in zip(data, expected) if a != b)
    return differing + max(0, len(data) - len(expected))


class ShortConn:
    """One short TCP connection: header + payload out, the same bytes expected back."""

    def __init__(self, worker, max_payload):
        self.worker = worker
        rng = worker.rng
        roll = rng.random()
        self.mode = "reset" if roll < 0.05 else "halfclose" if roll < 0.35 else "plain"
        size = int((max_payload + 1) ** rng.random()) - 1
        offset = rng.randrange(POOL_BYTES)
        payload = worker.pool[offset:offset + size]
        worker.next_id += 1
        self.expected = TCP_HEADER.pack(TCP_MAGIC, size, zlib.crc32(payload),
                                        worker.next_id & 0xFFFFFFFF) + payload
        self.view = memoryview(self.expected)
        self.total = len(self.expected)
        self.cut = rng.randrange(self.total + 1) if self.mode == "reset" else self.total
        self.sent = self.received = self.corrupt = 0
        self.crc = 0                # CRC-32 of the payload bytes received so far
        self.born = time.monotonic()
        self.connected = self.write_shut = self.done = False
        self.last = time.monotonic()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        worker.stats.add("tcp_started")
        worker.active.add(self)
        error = self.sock.connect_ex((LOOPBACK, worker.tcp_port))
        self.port = self.sock.getsockname()[1]
        if error not in (0, errno.EINPROGRESS):
            self.sock.close()
            self._account("lost_connect")
            return
        worker.sel.register(self.sock, READ | WRITE, self)

    def on_event(self, mask):
        if mask & WRITE and self._on_writable():
            return
        if mask & READ:
            self._on_readable()

    def _on_writable(self):
        """Returns True when the connection has ended."""
        if not self.connected:
            error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                self.finish("lost_connect")
                return True
            self.connected = True
        while self.sent < self.cut:
            try:
                n = self.sock.send(self.view[self.sent:min(self.cut, self.sent + IO_CHUNK)])
            except BlockingIOError:
                return False
            except OSError:
                self.finish("lost_reset")
                return True
            self.sent += n
            self.worker.stats.add("tcp_bytes_sent", n)
            self.last = time.monotonic()
        if self.mode == "reset":
            self.finish("reset")
            return True
        if self.mode == "halfclose" and not self.write_shut:
            self.sock.shutdown(socket.SHUT_WR)
            self.write_shut = True
        self.worker.sel.modify(self.sock, READ, self)
        return False

    def _on_readable(self):
        stats = self.worker.stats
        while True:
            try:
                data = self.sock.recv(IO_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                self.finish("lost_reset")
                return
            if not data:
                complete = self.received == self.total and self.sent == self.total
                self.finish("ok" if complete and self.mode == "halfclose" else
                            "ok" if complete else "lost_eof")
                return
            self.last = time.monotonic()
            skip = max(0, TCP_HEADER.size - self.received)
            if skip < len(data):
                self.crc = zlib.crc32(memoryview(data)[skip:], self.crc)
            expected = self.view[self.received:self.received + len(data)]
            if data == expected:
                stats.add("tcp_bytes_verified", len(data))
            else:
                bad = count_diff(data, expected)
                self.corrupt += bad
                stats.add("tcp_bytes_corrupt", bad)
                stats.add("tcp_bytes_verified", len(data) - bad)
            self.received += len(data)
            if self.received >= self.total and self.mode == "plain" and self.sent == self.total:
                self.finish("ok")
                return

    def tick(self, now, stopping_hard):
        if stopping_hard:
            self.finish("lost_unfinished")
        elif now - self.last > STALL_S:
            self.finish("lost_stall")

    def finish(self, outcome):
        if self.done:
            return
        self.done = True
        if outcome == "ok":
            _, length, crc, _ = TCP_HEADER.unpack_from(self.expected)
            if self.received != TCP_HEADER.size + length or self.crc != crc:
                # the length and CRC-32 of the header: a second check of the echoed payload
                self.corrupt += 1
                self.worker.stats.add("tcp_bytes_corrupt")
        try:
            self.worker.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        if outcome != "ok":
            try:  # a reset: no TIME_WAIT, nothing lingers
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            except OSError:
                pass
        self.sock.close()
        self._account(outcome)

    def _account(self, outcome):
        stats = self.worker.stats
        self.worker.active.discard(self)
        if self.corrupt:
            stats.add("tcp_corrupt_conns")
        if outcome == "ok":
            if not self.corrupt:
                stats.add("tcp_ok")
                if self.mode == "halfclose":
                    stats.add("tcp_halfclosed")
        elif outcome == "reset":
            stats.add("tcp_reset")
        else:
            stats.add("tcp_lost")
            stats.add(outcome)
            self.worker.report_loss(
                f"{outcome}: short connection ({self.mode}) from port {self.port}, "
                f"{self.total} bytes to echo, {self.sent} sent, {self.received} received back, "
                f"{time.monotonic() - self.born:.1f} s old")


class LongStream:
    """A long-lived TCP stream: pool bytes sent continuously, verified as they come back."""

    def __init__(self, worker):
        self.worker = worker
        rng = worker.rng
        self.start = rng.randrange(POOL_BYTES)
        self.deadline = time.monotonic() + rng.uniform(*LONG_LIFETIME_S)
        self.sent = self.received = self.corrupt = 0
        self.connected = self.closing = self.done = False
        self.writing = True
        self.last = self.born = time.monotonic()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        worker.stats.add("tcp_started")
        worker.stats.add("long_started")
        worker.active.add(self)
        error = self.sock.connect_ex((LOOPBACK, worker.tcp_port))
        self.port = self.sock.getsockname()[1]
        if error not in (0, errno.EINPROGRESS):
            self.sock.close()
            self._account("lost_connect")
            return
        worker.sel.register(self.sock, READ | WRITE, self)

    def _segment(self, position, length):
        offset = (self.start + position) % POOL_BYTES
        return self.worker.pool_view[offset:offset + min(length, POOL_BYTES - offset)]

    def on_event(self, mask):
        if mask & WRITE:
            if not self.connected:
                if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    self.finish("lost_connect")
                    return
                self.connected = True
            self._send()
        if mask & READ and not self.done:
            self._receive()

    def _send(self):
        while not self.closing and self.sent - self.received < LONG_WINDOW:
            room = LONG_WINDOW - (self.sent - self.received)
            try:
                n = self.sock.send(self._segment(self.sent, min(room, IO_CHUNK)))
            except BlockingIOError:
                return
            except OSError:
                self.finish("lost_reset")
                return
            self.sent += n
            self.last = time.monotonic()
            self.worker.stats.add("tcp_bytes_sent", n)
        self._set_writing(False)

    def _set_writing(self, wanted):
        if wanted != self.writing and self.sock.fileno() >= 0:
            self.writing = wanted
            self.worker.sel.modify(self.sock, READ | (WRITE if wanted else 0), self)

    def _receive(self):
        stats = self.worker.stats
        while True:
            try:
                data = self.sock.recv(IO_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                self.finish("lost_reset")
                return
            if not data:
                ok = self.closing and self.received == self.sent
                self.finish("ok" if ok else "lost_eof")
                return
            self.last = time.monotonic()
            view = memoryview(data)
            while view:
                expected = self._segment(self.received, len(view))
                part = view[:len(expected)]
                if part == expected:
                    stats.add("tcp_bytes_verified", len(part))
                else:
                    bad = count_diff(part, expected)
                    self.corrupt += bad
                    stats.add("tcp_bytes_corrupt", bad)
                    stats.add("tcp_bytes_verified", len(part) - bad)
                self.received += len(part)
                view = view[len(part):]
        if self.received > self.sent:  # more came back than was sent
            self.corrupt += self.received - self.sent
            stats.add("tcp_bytes_corrupt", self.received - self.sent)
            self.received = self.sent
        if not self.closing and self.sent - self.received < LONG_WINDOW:
            self._set_writing(True)

    def tick(self, now, stopping_hard):
        if stopping_hard:
            self.finish("lost_unfinished")
        elif now - self.last > STALL_S:  # nothing sent or received for that long
            self.finish("lost_stall")
        elif not self.closing and self.connected and (now >= self.deadline
                                                      or self.worker.stopping):
            self.closing = True
            self.last = now
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self.finish("lost_reset")
                return
            self._set_writing(False)

    def finish(self, outcome):
        if self.done:
            return
        self.done = True
        try:
            self.worker.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        if outcome != "ok":
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            except OSError:
                pass
        self.sock.close()
        self._account(outcome)

    def _account(self, outcome):
        stats = self.worker.stats
        self.worker.active.discard(self)
        if self.corrupt:
            stats.add("tcp_corrupt_conns")
        if outcome == "ok":
            if not self.corrupt:
                stats.add("tcp_ok")
                stats.add("tcp_halfclosed")
                stats.add("long_ok")
        else:
            stats.add("tcp_lost")
            stats.add(outcome)
            self.worker.report_loss(
                f"{outcome}: long stream ({'closing' if self.closing else 'open'}) from port "
                f"{self.port}, {self.sent} bytes sent, {self.received} received back, "
                f"{time.monotonic() - self.born:.1f} s old, last progress "
                f"{time.monotonic() - self.last:.1f} s ago")


# --------------------------------------------------------------------------- load: UDP

class UdpClient:
    """One UDP client socket (one source port, one proxy session), one request at a time."""

    def __init__(self, worker, oneshot):
        self.worker = worker
        self.oneshot = oneshot
        self.outstanding = None
        self.sent_at = 0.0
        self.sock = None
        self._open()

    def _open(self):
        if self.sock is not None:
            self.worker.sel.unregister(self.sock)
            self.sock.close()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new source port
        self.sock.setblocking(False)
        self.sock.bind((LOOPBACK, 0))
        self.sock.connect((LOOPBACK, self.worker.udp_port))
        self.nonce = self.worker.rng.getrandbits(32)
        self.nonce_bytes = struct.pack("<I", self.nonce)
        self.seq = 0
        self.outstanding = None
        self.worker.sel.register(self.sock, READ, self)

    def send_next(self):
        worker = self.worker
        size = worker.rng.randint(0, UDP_MAX)
        self.seq += 1
        header = UDP_HEADER.pack(self.nonce, size, self.seq)
        if size >= UDP_HEADER.size:
            offset = worker.rng.randrange(POOL_BYTES)
            data = header + worker.pool[offset:offset + size - UDP_HEADER.size]
        else:
            data = header[:size]
        try:
            self.sock.send(data)
        except BlockingIOError:
            return  # send buffer full: tried again on the next tick
        except OSError:  # e.g. a stale ICMP error: a fresh socket
            worker.stats.add("udp_send_errors")
            self._open()
            return
        self.outstanding = data
        self.sent_at = time.monotonic()
        worker.stats.add("udp_sent")

    def on_event(self, mask):
        stats = self.worker.stats
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:  # ICMP error queued on the socket; the request stays outstanding
                stats.add("udp_send_errors")
                continue
            if self.outstanding is None:
                stats.add("udp_stray")
                continue
            if data == self.outstanding:
                stats.add("udp_answered")
                stats.add("udp_bytes_verified", len(data))
                self.outstanding = None
                if not self.oneshot and not self.worker.stopping:
                    self.send_next()
                continue
            if len(data) >= 4 and data[:4] != self.nonce_bytes:
                stats.add("udp_stray")  # not for this socket: reported, the request still waits
                continue
            stats.add("udp_corrupt")
            stats.add("udp_bytes_corrupt", max(1, count_diff(data, self.outstanding)))
            self.outstanding = None
            self._open()  # nothing more to trust on this socket
            if not self.oneshot and not self.worker.stopping:
                self.send_next()
            return

    def tick(self, now, stopping_hard):
        if self.outstanding is not None:
            if stopping_hard:
                self.worker.stats.add("udp_lost")
                if not self.outstanding:
                    self.worker.stats.add("udp_lost_empty")
                self._open()
            elif now - self.sent_at > UDP_REPLY_WAIT_S:
                # The socket waits aside for a late reply; the next request gets a new one.
                RetiredUdpSocket(self.worker, self.sock, self.outstanding, self.nonce_bytes)
                self.sock = None
                self._open()
        if (self.outstanding is None and not self.oneshot and not self.worker.stopping):
            self.send_next()

    @property
    def busy(self):
        return self.outstanding is not None

    def close(self):
        self.worker.sel.unregister(self.sock)
        self.sock.close()


class RetiredUdpSocket:
    """A client socket whose request got no reply within UDP_REPLY_WAIT_S: it waits up to
    UDP_LATE_GRACE_S more; a reply then counts as late, none at all as lost."""

    def __init__(self, worker, sock, outstanding, nonce_bytes):
        self.worker = worker
        self.sock = sock
        self.outstanding = outstanding
        self.nonce_bytes = nonce_bytes
        self.deadline = time.monotonic() + UDP_LATE_GRACE_S
        worker.sel.modify(sock, READ, self)
        worker.retired.add(self)

    def on_event(self, mask):
        stats = self.worker.stats
        while self.sock is not None:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                stats.add("udp_send_errors")
                continue
            if data == self.outstanding:
                stats.add("udp_late")
                stats.add("udp_bytes_verified", len(data))
                self._close()
            elif len(data) >= 4 and data[:4] != self.nonce_bytes:
                stats.add("udp_stray")
            else:
                stats.add("udp_corrupt")
                stats.add("udp_bytes_corrupt", max(1, count_diff(data, self.outstanding)))
                self._close()

    def tick(self, now, stopping_hard):
        if now >= self.deadline or stopping_hard:
            self.worker.stats.add("udp_lost")
            if not self.outstanding:
                self.worker.stats.add("udp_lost_empty")
            self._close()

    def _close(self):
        self.worker.sel.unregister(self.sock)
        self.sock.close()
        self.sock = None
        self.worker.retired.discard(self)


# --------------------------------------------------------------------------- load: worker

class Worker:
    def __init__(self, plan, tcp_port, udp_port, ctl, stats):
        self.plan = plan
        self.tcp_port = tcp_port
        self.udp_port = udp_port
        self.ctl = ctl
        self.stats = stats
        self.rng = random.Random(os.urandom(16))
        self.pool = os.urandom(POOL_BYTES + MAX_PAYLOAD)
        self.pool_view = memoryview(self.pool)
        self.sel = selectors.EpollSelector()
        self.active = set()   # TCP connections in flight
        self.retired = set()  # UDP sockets waiting for a late reply
        self.next_id = 0
        self.stopping = False
        self.losses_reported = 0

    def report_loss(self, text):
        """Describes the first few lost TCP replies of this worker on stderr."""
        self.losses_reported += 1
        if self.losses_reported <= LOSSES_REPORTED:
            now = time.time()
            stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
            print(f"soak: {stamp} UTC {self.plan['name']}: lost TCP reply: {text}",
                  file=sys.stderr, flush=True)

    def run(self):
        plan = self.plan
        udp_clients = [UdpClient(self, oneshot=False) for _ in range(plan.get("udp", 0))]
        burst_clients = ([UdpClient(self, oneshot=True) for _ in range(UDP_BURST)]
                         if plan.get("burst") else [])
        next_burst = time.monotonic() + self.rng.uniform(*BURST_INTERVAL_S)
        burst_tcp = True
        hard_deadline = None
        next_tick = 0.0
        while True:
            now = time.monotonic()
            if not self.stopping and self.ctl[CTL_STOP_LOAD]:
                self.stopping = True
                hard_deadline = now + DRAIN_S
            if not self.stopping:
                self._top_up(plan)
                if plan.get("burst") and now >= next_burst:
                    if burst_tcp:
                        for _ in range(TCP_BURST):
                            ShortConn(self, BURST_PAYLOAD)
                        self.stats.add("tcp_bursts")
                    else:
                        for client in burst_clients:
                            if not client.busy:
                                client.send_next()
                        self.stats.add("udp_bursts")
                    burst_tcp = not burst_tcp
                    next_burst = now + self.rng.uniform(*BURST_INTERVAL_S)
            for key, mask in self.sel.select(0.05):
                key.data.on_event(mask)
            now = time.monotonic()
            hard = hard_deadline is not None and now >= hard_deadline
            if now >= next_tick or hard:
                next_tick = now + 0.1
                for conn in list(self.active):
                    conn.tick(now, hard)
                for client in udp_clients + burst_clients:
                    client.tick(now, hard)
                for retired in list(self.retired):
                    retired.tick(now, hard)
            self.stats.flush(now)
            if self.stopping and not self.active and not self.retired and not any(
                    c.busy for c in udp_clients + burst_clients):
                break
            if hard:
                break
        for client in udp_clients + burst_clients:
            client.close()
        self.stats.final()

    def _top_up(self, plan):
        shorts = sum(1 for c in self.active if isinstance(c, ShortConn))
        longs = len(self.active) - shorts
        if plan.get("burst"):
            return
        for _ in range(plan.get("short", 0) - shorts):
            ShortConn(self, MAX_PAYLOAD)
        for _ in range(plan.get("long", 0) - longs):
            LongStream(self)


def worker_main(plan, slot, tcp_port, udp_port, ctl, shared):
    for signum in FORKED_DEFAULT_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    stats = Stats(shared, slot)
    try:
        Worker(plan, tcp_port, udp_port, ctl, stats).run()
    except BaseException as error:
        stats.add("errors")
        stats.final()
        print(f"soak: worker {plan['name']} failed: {type(error).__name__}: {error}",
              file=sys.stderr, flush=True)
        raise


# --------------------------------------------------------------------------- backends

class EchoConn:
    """Backend side of one TCP connection: echoes everything, half-closes after the client."""

    HIGH_WATER = 1 << 20

    reported = 0  # abnormal ends described on stderr by this process

    def __init__(self, sel, sock, stats, peer_port):
        self.sel = sel
        self.sock = sock
        self.stats = stats
        self.peer_port = peer_port
        self.born = time.monotonic()
        self.received = self.echoed = 0
        self.pending = bytearray()
        self.eof = False
        self.events = READ
        sel.register(sock, READ, self)

    def on_event(self, mask):
        try:
            if mask & WRITE:
                self._flush()
            if mask & READ and not self.eof and len(self.pending) < self.HIGH_WATER:
                self._read()
            if self.sock.fileno() >= 0:
                self._update()
        except OSError as error:  # reset by the proxy (after a client reset) or a broken pipe
            self.stats.add("echo_resets")
            if not self.echoed:  # ended before any echo (a client reset usually comes later)
                self.report(f"ended by {errno.errorcode.get(error.errno, error)}")
            self.close()

    def report(self, how):
        """Describes on stderr the first few connections that ended before any echo."""
        if EchoConn.reported < LOSSES_REPORTED:
            EchoConn.reported += 1
            now = time.time()
            stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
            print(f"soak: {stamp} UTC tcp echo: connection from the proxy's port "
                  f"{self.peer_port} {how} after {self.received} bytes in, {self.echoed} "
                  f"echoed, {time.monotonic() - self.born:.3f} s old", file=sys.stderr,
                  flush=True)

    def _read(self):
        while len(self.pending) < self.HIGH_WATER:
            try:
                data = self.sock.recv(IO_CHUNK)
            except BlockingIOError:
                return
            if not data:
                self.eof = True
                return
            self.stats.add("echo_bytes", len(data))
            self.received += len(data)
            if not self.pending:
                try:
                    sent = self.sock.send(data)
                except BlockingIOError:
                    sent = 0
                self.echoed += sent
                if sent < len(data):
                    self.pending += memoryview(data)[sent:]
            else:
                self.pending += data

    def _flush(self):
        while self.pending:
            try:
                sent = self.sock.send(self.pending)
            except BlockingIOError:
                return
            self.echoed += sent
            del self.pending[:sent]

    def _update(self):
        if self.eof and not self.pending:
            if not self.received:  # normal: a client reset before sending anything
                self.stats.add("echo_empty")
            self.sock.shutdown(socket.SHUT_WR)
            self.close()
            return
        wanted = (WRITE if self.pending else 0) | (
            READ if not self.eof and len(self.pending) < self.HIGH_WATER else 0)
        if wanted != self.events:
            self.events = wanted
            self.sel.modify(self.sock, wanted, self)

    def close(self):
        try:
            self.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()


def tcp_echo_main(listener, slot, ctl, shared):
    for signum in FORKED_DEFAULT_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    stats = Stats(shared, slot)
    sel = selectors.EpollSelector()
    sel.register(listener, READ, None)
    while not ctl[CTL_STOP_BACKENDS]:
        for key, mask in sel.select(0.1):
            if key.data is None:
                for _ in range(64):
                    try:
                        conn, peer = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        stats.add("errors")
                        break
                    conn.setblocking(False)
                    stats.add("echo_accepted")
                    EchoConn(sel, conn, stats, peer[1])
            else:
                key.data.on_event(mask)
        stats.flush()
    stats.final()


def udp_echo_main(sock, slot, ctl, shared):
    for signum in FORKED_DEFAULT_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    stats = Stats(shared, slot)
    sock.settimeout(0.1)
    buffer = bytearray(65536)
    view = memoryview(buffer)
    while not ctl[CTL_STOP_BACKENDS]:
        try:
            n, address = sock.recvfrom_into(buffer)
        except socket.timeout:
            stats.flush()
            continue
        try:
            sock.sendto(view[:n], address)
        except OSError:
            stats.add("errors")
        stats.add("udp_echo_datagrams")
        stats.flush()
    stats.final()


def raise_buffers(sock, size):
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)


# --------------------------------------------------------------------------- proxies

def spawn(binary, proto, host_port, container_port, extra_args, stderr_path):
    """measure_core.spawn_proxy with a protocol, extra flags and stderr to a file: stdin and
    stdout on /dev/null, fd 3 the write end of a fresh pipe, signals at their defaults; the PID
    joins measure_core's list of live PIDs."""
    read_fd, write_fd = os.pipe()
    if write_fd == 3:  # dup2(3, 3) would keep close-on-exec set
        moved = os.dup(write_fd)
        os.close(write_fd)
        write_fd = moved
    argv = [binary, "-proto", proto,
            "-host-ip", LOOPBACK, "-host-port", str(host_port),
            "-container-ip", LOOPBACK, "-container-port", str(container_port)] + extra_args
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
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
    proxy = core.Proxy(binary, pid, read_fd, spawned_ns, host_port)
    proxy.proto = proto
    proxy.argv = argv
    proxy.stderr_path = stderr_path
    proxy.exit_status = None
    return proxy


def parse_seconds(duration):
    """Seconds of a simple Go duration (300ms, 5s, 2m, 1h); infinity if not understood."""
    for suffix, scale in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        number = duration[:-len(suffix)]
        if duration.endswith(suffix) and number.replace(".", "", 1).isdigit():
            return float(number) * scale
    return float("inf")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((LOOPBACK, 0))
        return holder.getsockname()[1]


def takes_flag(binary, flag):
    """True when BINARY's usage (-h, stdout or stderr) lists FLAG."""
    try:
        done = subprocess.run([binary, "-h"], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f"-{flag} ".encode() in done.stdout + done.stderr or \
        f"-{flag}\n".encode() in done.stdout + done.stderr


def poll_exit(proxy):
    """The wait status if the proxy has ended (reaped here), else None."""
    if proxy.exit_status is not None:
        return proxy.exit_status
    done, status = os.waitpid(proxy.pid, os.WNOHANG)
    if done:
        core._live_pids.discard(proxy.pid)
        proxy.exit_status = status
        return status
    return None


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def sample_proxy(proxy):
    """(private KiB, fds, CPU ticks, threads), or None when the proxy has ended."""
    if poll_exit(proxy) is not None:
        return None
    try:
        rollup = core.smaps_rollup_kb(proxy.pid)
        fds = len(os.listdir(f"/proc/{proxy.pid}/fd"))
        ticks = cpu_ticks(proxy.pid)
        threads = len(os.listdir(f"/proc/{proxy.pid}/task"))
    except (OSError, MeasureError):
        return None
    return rollup["Private_Clean"] + rollup["Private_Dirty"], fds, ticks, threads


def socket_inodes(pid):
    """Inodes of the sockets PID holds open."""
    inodes = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def udp_sockets(inodes):
    """{inode: (local port, drops)} from /proc/net/udp for the given socket inodes."""
    found = {}
    try:
        with open("/proc/net/udp") as table:
            next(table)
            for line in table:
                parts = line.split()
                if len(parts) >= 13 and int(parts[9]) in inodes:
                    found[int(parts[9])] = (int(parts[1].split(":")[1], 16), int(parts[-1]))
    except (OSError, ValueError, StopIteration):
        pass
    return found


SYSCALL_NAMES = {0: "read", 1: "write", 3: "close", 7: "poll", 23: "select", 35: "nanosleep",
                 42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg",
                 47: "recvmsg", 48: "shutdown", 202: "futex", 230: "clock_nanosleep",
                 232: "epoll_wait", 271: "ppoll", 275: "splice", 281: "epoll_pwait",
                 288: "accept4", 441: "epoll_pwait2"}  # x86-64 numbers


def thread_dump(pid):
    """One line per thread of PID: name, state, kernel wait channel and current syscall."""
    lines = []
    try:
        tids = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
    except OSError:
        return [f"(PID {pid} has no /proc entry)"]
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/comm") as f:
                comm = f.read().strip()
            with open(f"{base}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"{base}/wchan") as f:
                wchan = f.read().strip() or "-"
            with open(f"{base}/syscall") as f:
                call = f.read().split()
        except OSError:
            continue
        if call and call[0].lstrip("-").isdigit():
            number = int(call[0])
            name = SYSCALL_NAMES.get(number, f"syscall {number}")
            detail = f"{name}(fd/arg0 {int(call[1], 16)})" if len(call) > 1 else name
        else:
            detail = " ".join(call) or "-"
        lines.append(f"thread {tid} {comm!r} state {state} wchan {wchan} in {detail}")
    return lines


KERNEL_COUNTERS = ("TCPTimeWaitOverflow", "TCPLossProbes", "ListenOverflows", "ListenDrops")


def kernel_counters():
    """System-wide TcpExt counters of /proc/net/netstat that explain lost TCP replies."""
    found = {}
    try:
        with open("/proc/net/netstat") as netstat:
            lines = netstat.read().splitlines()
    except OSError:
        return found
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            for name, value in zip(names.split()[1:], values.split()[1:]):
                if name in KERNEL_COUNTERS:
                    found[name] = int(value)
    return found


def stderr_tail(proxy, lines=20):
    try:
        with open(proxy.stderr_path, errors="replace") as err:
            text = err.read().splitlines()
    except OSError:
        return []
    return text[-lines:]


# --------------------------------------------------------------------------- reporting

def mib(kib):
    return kib / 1024


def human_bytes(count):
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{count} B"


def percent(part, whole):
    return 100.0 * part / whole if whole else 0.0


def trend(values, statistic):
    """STATISTIC of the second and of the last quarter of the samples, or None when there are
    too few. The first quarter is the warm-up."""
    n = len(values)
    if n < MIN_TREND_SAMPLES:
        return None
    return statistic(values[n // 4:n // 2]), statistic(values[(3 * n) // 4:])


class Run:
    """The state of one soak: proxies, helper processes, samples, counters."""

    def __init__(self, args):
        self.args = args
        self.slots = len(WORKERS) + 3  # workers, 2 TCP echo processes, 1 UDP echo process
        self.shared = _FORK.RawArray("q", self.slots * len(COUNTERS))
        self.ctl = _FORK.RawArray("q", 2)
        self.processes = []          # (name, multiprocessing.Process)
        self.proxies = {}            # "tcp"/"udp" -> proxy
        self.samples = []            # dicts, one per second of load
        self.before = {}
        self.after = {}
        self.deaths = {}             # proto -> description
        self.backend_deaths = {}     # echo process name -> description (a harness failure)
        self.stalls = []             # (proto, seconds into the load, duration) of stalls seen
        self.frozen = False          # both relays stalled at once (reported once)
        self.udp_drops = {}          # inode -> last drop count seen (the UDP proxy's sockets)
        self.sockets_before = {}     # proto -> sockets the proxy held before the load
        self.sockets_after = {}      # proto -> sockets it held once the load was over
        self.udp_timeout_set = False  # a short -udp-timeout given: UDP sessions end after load
        self.kernel = {}             # deltas of KERNEL_COUNTERS over the load
        self.listener_inode = None   # the UDP proxy's listening socket
        self.echo_inode = None       # the UDP echo backend's socket
        self.tempdir = tempfile.mkdtemp(prefix="docker-proxy-soak-")
        self.log_dir = args.log_dir or self.tempdir

    # ---- processes

    def start_process(self, name, target, *args):
        process = _FORK.Process(target=target, args=args, name=name, daemon=True)
        process.start()
        self.processes.append((name, process))
        return process

    def start_backends(self):
        listener = socket.create_server((LOOPBACK, 0), backlog=4096)
        listener.setblocking(False)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raise_buffers(udp, 8 << 20)
        udp.bind((LOOPBACK, 0))
        base = len(WORKERS)
        self.start_process("tcp-echo-1", tcp_echo_main, listener, base, self.ctl, self.shared)
        self.start_process("tcp-echo-2", tcp_echo_main, listener, base + 1, self.ctl,
                           self.shared)
        self.start_process("udp-echo", udp_echo_main, udp, base + 2, self.ctl, self.shared)
        ports = listener.getsockname()[1], udp.getsockname()[1]
        self.echo_inode = os.fstat(udp.fileno()).st_ino
        listener.close()
        udp.close()
        return ports

    def start_proxies(self, tcp_backend, udp_backend):
        binary = self.args.binary
        extra = list(self.args.proxy_arg)
        udp_extra = []
        if self.args.udp_timeout and takes_flag(binary, "udp-timeout"):
            udp_extra = ["-udp-timeout", self.args.udp_timeout]
            self.udp_timeout_set = parse_seconds(self.args.udp_timeout) <= AFTER_LOAD_MAX_S / 2
        self.proxies["tcp"] = spawn(binary, "tcp", core.free_ports(1)[0], tcp_backend, extra,
                                    os.path.join(self.log_dir, "tcp-proxy.stderr"))
        self.proxies["udp"] = spawn(binary, "udp", free_udp_port(), udp_backend,
                                    extra + udp_extra,
                                    os.path.join(self.log_dir, "udp-proxy.stderr"))
        core.wait_ready(list(self.proxies.values()))

    def start_workers(self):
        tcp_port = self.proxies["tcp"].host_port
        udp_port = self.proxies["udp"].host_port
        for slot, plan in enumerate(WORKERS):
            self.start_process(plan["name"], worker_main, plan, slot, tcp_port, udp_port,
                               self.ctl, self.shared)

    def stop_workers(self):
        """Stops the load; returns the names of workers that failed or hung. While the
        connections in flight drain, a TCP relay that completes none of them for
        STALL_WATCH_S seconds is a stall too."""
        self.ctl[CTL_STOP_LOAD] = 1
        deadline = time.monotonic() + DRAIN_S + TIMEOUT_S
        workers = [p for name, p in self.processes if name in (w["name"] for w in WORKERS)]
        t = self.samples[-1]["t"] if self.samples else 0.0
        history = []
        while any(p.is_alive() for p in workers) and time.monotonic() < deadline:
            time.sleep(SAMPLE_S)
            t += SAMPLE_S
            c = totals(self.shared, self.slots)
            history.append(c["tcp_ok"] + c["tcp_reset"] + c["tcp_lost"])
            in_flight = c["tcp_started"] - history[-1] - c["tcp_corrupt_conns"]
            if len(history) > STALL_WATCH_S and in_flight > 0 and \
                    history[-1] == history[-1 - STALL_WATCH_S]:
                self.record_stall("tcp", t)
        bad = []
        for name, process in self.processes:
            if name in (w["name"] for w in WORKERS):
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    log(f"soak: worker {name} (PID {process.pid}) still running; killing it")
                    process.kill()
                    process.join(TIMEOUT_S)
                    bad.append(f"{name} hung")
                elif process.exitcode != 0:
                    bad.append(f"{name} exited with {process.exitcode}")
        return bad

    def stop_backends(self):
        self.ctl[CTL_STOP_BACKENDS] = 1
        for name, process in self.processes:
            process.join(TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(TIMEOUT_S)

    def cleanup(self):
        self.ctl[CTL_STOP_LOAD] = 1
        self.ctl[CTL_STOP_BACKENDS] = 1
        for _, process in self.processes:
            if process.is_alive():
                process.kill()
            process.join(TIMEOUT_S)
        core.kill_leftovers()
        for name in os.listdir(self.tempdir):
            os.unlink(os.path.join(self.tempdir, name))
        os.rmdir(self.tempdir)

    # ---- sampling

    def sample_udp_drops(self):
        """Kernel drops (full receive buffers) of the UDP proxy's sockets and of the echo's."""
        proxy = self.proxies["udp"]
        inodes = socket_inodes(proxy.pid) if poll_exit(proxy) is None else set()
        for inode, (port, drops) in udp_sockets(inodes | {self.echo_inode}).items():
            if inode != self.echo_inode and port == proxy.host_port:
                self.listener_inode = inode
            self.udp_drops[inode] = drops

    def take_sample(self, elapsed):
        self.sample_udp_drops()
        sample = dict(t=elapsed, counters=totals(self.shared, self.slots))
        for proto, proxy in self.proxies.items():
            figures = sample_proxy(proxy)
            if figures is None:
                if proto not in self.deaths:
                    status = poll_exit(proxy)
                    what = core.describe_status(status) if status is not None else "vanished"
                    self.deaths[proto] = f"{proto} proxy (PID {proxy.pid}) {what} " \
                                         f"after {elapsed:.0f} s of load"
                sample[proto] = None
            else:
                sample[proto] = figures
        return sample

    def progress_line(self, sample, previous):
        c = sample["counters"]
        span = sample["t"] - previous["t"] if previous else sample["t"]
        done = c["tcp_ok"] + c["tcp_reset"]
        rate = (done - (previous["counters"]["tcp_ok"] + previous["counters"]["tcp_reset"])
                if previous else done) / max(span, 1e-9)
        answered = percent(c["udp_answered"], c["udp_sent"] - self._udp_in_flight(c))
        parts = [f"[{sample['t']:5.0f} s] tcp {done:,} conns ({rate:,.0f}/s), "
                 f"{human_bytes(c['tcp_bytes_verified'])} verified, lost {c['tcp_lost']}, "
                 f"corrupt {c['tcp_bytes_corrupt']} B | udp {c['udp_sent']:,} sent, "
                 f"{answered:.2f} % answered in time, late {c['udp_late']}, lost "
                 f"{c['udp_lost']}, corrupt {c['udp_corrupt']}"]
        for proto in ("tcp", "udp"):
            figures = sample[proto]
            if figures is None:
                parts.append(f"{proto} proxy DEAD")
                continue
            cpu = ""
            if previous and previous.get(proto):
                busy = (figures[2] - previous[proto][2]) / CLOCK_TICKS
                cpu = f", cpu {percent(busy, span):.0f} %"
            parts.append(f"{proto} proxy {mib(figures[0]):.1f} MiB, {figures[1]} fds{cpu}")
        return " | ".join(parts)

    @staticmethod
    def _udp_in_flight(c):
        return max(0, c["udp_sent"] - c["udp_answered"] - c["udp_late"] - c["udp_lost"]
                   - c["udp_corrupt"])

    def drive(self):
        start = time.monotonic()
        next_sample = start + SAMPLE_S
        previous_progress = None
        while True:
            now = time.monotonic()
            if now < next_sample:
                time.sleep(next_sample - now)
                continue
            sample = self.take_sample(next_sample - start)
            self.samples.append(sample)
            next_sample += SAMPLE_S
            self.watch_for_stalls()
            self.watch_backends(next_sample - start)
            if len(self.samples) % PROGRESS_EVERY == 0 or self.deaths:
                print(self.progress_line(sample, previous_progress), flush=True)
                previous_progress = sample
            if self.deaths:
                for text in self.deaths.values():
                    print(f"soak: {text}; stopping the load", flush=True)
                return
            if len(self.samples) >= self.args.seconds:
                return

    def watch_backends(self, t):
        """An echo process that ends during the load takes its connections with it: that is a
        failure of the harness, not of the proxy, and is reported as such (exit status 2)."""
        for name, process in self.processes:
            if name.endswith("-echo") or "-echo-" in name:
                if name not in self.backend_deaths and not process.is_alive():
                    self.backend_deaths[name] = (f"echo backend {name} (PID {process.pid}) "
                                                 f"exited with {process.exitcode} {t:.0f} s "
                                                 "into the load")
                    print(f"soak: {self.backend_deaths[name]}", flush=True)

    def watch_for_stalls(self):
        """A relay that completes nothing for STALL_WATCH_S seconds of load is stalled: the
        threads of its proxy are described (once per stall) so that a hang can be diagnosed."""
        if len(self.samples) <= STALL_WATCH_S:
            return
        now, then = self.samples[-1], self.samples[-1 - STALL_WATCH_S]
        keys = {"tcp": ("tcp_ok", "tcp_reset", "tcp_lost"),
                "udp": ("udp_answered", "udp_late", "udp_lost")}
        progress = {proto: sum(now["counters"][k] for k in names) -
                    sum(then["counters"][k] for k in names) for proto, names in keys.items()}
        for proto in keys:
            if now.get(proto) is None:
                continue
            other = "udp" if proto == "tcp" else "tcp"
            if progress[proto] == 0 and progress[other] == 0:
                if not self.frozen:
                    self.frozen = True
                    print(f"soak: warning: neither relay completed anything for "
                          f"{STALL_WATCH_S} s (load {now['t']:.0f} s): the machine or the load "
                          f"generator stalled, not counted against the proxy", flush=True)
                continue
            if progress[proto] == 0:
                self.record_stall(proto, now["t"])

    def record_stall(self, proto, t):
        """Extends the current stall of PROTO, or records a new one and describes the threads
        of its proxy."""
        if self.stalls and self.stalls[-1][0] == proto and \
                self.stalls[-1][1] + self.stalls[-1][2] >= t - SAMPLE_S - 1e-6:
            _, start, length = self.stalls[-1]
            self.stalls[-1] = (proto, start, t - start)
            return
        self.stalls.append((proto, t - STALL_WATCH_S, float(STALL_WATCH_S)))
        print(f"soak: the {proto} proxy completed nothing for {STALL_WATCH_S} s "
              f"({t - STALL_WATCH_S:.0f}-{t:.0f} s after the load began); its threads:",
              flush=True)
        if poll_exit(self.proxies[proto]) is None:
            for line in thread_dump(self.proxies[proto].pid):
                print(f"  {line}", flush=True)

    def settle_after_load(self):
        """Waits until the proxies' fds are back near their idle figures (bounded), then
        takes the after-load sample."""
        deadline = time.monotonic() + AFTER_LOAD_MAX_S
        while time.monotonic() < deadline:
            settled = True
            for proto, proxy in self.proxies.items():
                if poll_exit(proxy) is None and proto in self.sockets_before and \
                        len(socket_inodes(proxy.pid)) > self.sockets_before[proto]:
                    settled = False
                now = sample_proxy(proxy) if poll_exit(proxy) is None else None
                if now is not None and self.before.get(proto) and \
                        now[1] > self.before[proto][1] + FD_AFTER_MARGIN:
                    settled = False
            if settled:
                break
            time.sleep(0.5)
        for proto, proxy in self.proxies.items():
            self.after[proto] = sample_proxy(proxy)
            if self.after[proto] is not None:
                self.sockets_after[proto] = len(socket_inodes(proxy.pid))

    # ---- verdict

    def verdict(self, harness_errors):
        failures = []
        c = self.final_counters
        if c["tcp_bytes_corrupt"] or c["tcp_corrupt_conns"]:
            failures.append(f"{c['tcp_bytes_corrupt']} corrupted TCP bytes in "
                            f"{c['tcp_corrupt_conns']} connections")
        if c["udp_corrupt"]:
            failures.append(f"{c['udp_corrupt']} corrupted UDP replies "
                            f"({c['udp_bytes_corrupt']} bytes)")
        if c["tcp_lost"]:
            failures.append(f"{c['tcp_lost']} lost TCP replies")
        for text in self.deaths.values():
            failures.append(text)
        # TCP: every connection is closed once the clients are gone. UDP: only when we set a
        # session timeout shorter than the wait (the originals keep sessions for 90 s).
        for proto in ("tcp", "udp") if self.udp_timeout_set else ("tcp",):
            held = self.sockets_after.get(proto, 0) - self.sockets_before.get(proto, 0)
            if proto in self.sockets_after and held > 0:
                failures.append(f"the {proto} proxy still held {held} more sockets than before "
                                f"the load, {AFTER_LOAD_MAX_S:.0f} s after the load ended")
            # Every fd, not only sockets: pipes kept for splice count too (ours closes its pool
            # when quiet; Go keeps its pipes, so the originals fail this).
            if self.before.get(proto) and self.after.get(proto):
                extra = self.after[proto][1] - self.before[proto][1]
                if extra > FD_AFTER_MARGIN:
                    failures.append(f"the {proto} proxy still held {extra} more fds than before "
                                    f"the load, {AFTER_LOAD_MAX_S:.0f} s after the load ended")
        for proto, start, length in self.stalls:
            failures.append(f"the {proto} proxy completed nothing for {length:.0f} s from "
                            f"{start:.0f} s into the load (threads described above)")
        loss = c["udp_lost"] / c["udp_sent"] if c["udp_sent"] else 0.0
        if loss > UDP_LOSS_LIMIT:
            failures.append(f"UDP loss {100 * loss:.2f} % above {100 * UDP_LOSS_LIMIT:.0f} %")
        if c["udp_sent"] == 0 or c["tcp_ok"] == 0:
            failures.append("no traffic went through (tcp ok "
                            f"{c['tcp_ok']}, udp sent {c['udp_sent']})")
        trends = []
        for proto in ("tcp", "udp"):
            series = [s[proto] for s in self.samples if s.get(proto)]
            if len(series) != len(self.samples):
                continue
            for label, index, margin, fraction, fmt, statistic in (
                    ("private memory", 0, MEM_MARGIN_KIB, MEM_MARGIN_FRACTION,
                     lambda v: f"{mib(v):.2f} MiB", "median"),
                    ("fds", 1, FD_MARGIN + (UDP_BURST if proto == "udp" else 0),
                     FD_MARGIN_FRACTION, lambda v: f"{v:.0f}", "floor")):
                values = [figures[index] for figures in series]
                quarters = trend(values, statistics.median if statistic == "median" else min)
                if quarters is None:
                    trends.append(f"{proto} proxy {label}: too few samples for a trend "
                                  f"({len(values)} < {MIN_TREND_SAMPLES})")
                    continue
                q2, q4 = quarters
                limit = margin + fraction * q2
                growth = q4 - q2
                ok = growth <= limit
                judged = label != "fds" or len(values) >= MIN_FD_TREND_SAMPLES
                verdict = ("ok" if ok else "TOO MUCH") if judged else \
                    f"not judged under {MIN_FD_TREND_SAMPLES} samples (see the after-load fds)"
                trends.append(f"{proto} proxy {label}: Q2 {statistic} {fmt(q2)}, Q4 {statistic} "
                              f"{fmt(q4)}, growth {fmt(growth)} (limit {fmt(limit)}) {verdict}")
                if judged and not ok:
                    failures.append(f"{proto} proxy {label} grew by {fmt(growth)} between the "
                                    f"second and the last quarter (limit {fmt(limit)})")
        failures.extend(f"load generator: {text}" for text in harness_errors)
        if c["errors"]:
            failures.append(f"load generator: {c['errors']} errors")
        return failures, trends

    def summary(self, failures, trends):
        c = self.final_counters
        args = self.args
        out = []
        out.append("")
        out.append(f"soak summary: {args.binary}, {len(self.samples)} s of load")
        for proto, proxy in self.proxies.items():
            out.append(f"  {proto} proxy: {' '.join(proxy.argv[1:])}")
        out.append("")
        n = len(self.samples)
        points = [("before load", self.before)]
        if n:
            points += [(f"load {self.samples[0]['t']:.0f} s", self.samples[0]),
                       (f"load {self.samples[n // 2]['t']:.0f} s", self.samples[n // 2]),
                       (f"load {self.samples[-1]['t']:.0f} s", self.samples[-1])]
        points.append(("after load", self.after))
        sockets = {"before load": self.sockets_before, "after load": self.sockets_after}
        header = f"  {'':<26}" + "".join(f"{label:>14}" for label, _ in points)
        out.append(header)
        for proto in ("tcp", "udp"):
            for label, index, fmt in (("private memory (MiB)", 0, lambda v: f"{mib(v):.2f}"),
                                      ("open fds", 1, lambda v: f"{v}"),
                                      ("threads", 3, lambda v: f"{v}")):
                cells = []
                for _, point in points:
                    figures = point.get(proto)
                    cells.append(f"{fmt(figures[index]) if figures else 'dead':>14}")
                out.append(f"  {proto + ' proxy ' + label:<26}" + "".join(cells))
            cells = [f"{sockets[label].get(proto, '') if label in sockets else '':>14}"
                     for label, _ in points]
            out.append(f"  {proto + ' proxy sockets':<26}" + "".join(cells))
        for proto in ("tcp", "udp"):
            series = [s[proto] for s in self.samples if s.get(proto)]
            if series:
                cpu_s = (series[-1][2] - (self.before[proto][2] if self.before.get(proto)
                                          else series[0][2])) / CLOCK_TICKS
                peak_mem = max(f[0] for f in series)
                peak_fds = max(f[1] for f in series)
                out.append(f"  {proto} proxy: CPU {cpu_s:.1f} s in {n} s "
                           f"({percent(cpu_s, n):.0f} % of one core), peak private memory "
                           f"{mib(peak_mem):.2f} MiB, peak fds {peak_fds}")
        out.append("")
        done = c["tcp_ok"] + c["tcp_reset"]
        out.append(f"  TCP: {done:,} connections done ({c['tcp_ok']:,} verified complete, "
                   f"{c['tcp_halfclosed']:,} of them half-closed first, {c['tcp_reset']:,} "
                   f"reset by the client; {c['long_ok']:,} of {c['long_started']:,} long "
                   f"streams), {c['tcp_bursts']} bursts")
        out.append(f"       {human_bytes(c['tcp_bytes_sent'])} sent, "
                   f"{human_bytes(c['tcp_bytes_verified'])} echoed and verified, "
                   f"corrupted bytes {c['tcp_bytes_corrupt']}, lost replies {c['tcp_lost']} "
                   f"(connect {c['lost_connect']}, early EOF {c['lost_eof']}, reset "
                   f"{c['lost_reset']}, stalled {c['lost_stall']}, unfinished "
                   f"{c['lost_unfinished']})")
        if self.kernel:
            out.append("       kernel, whole host, during the load: " + ", ".join(
                f"{name} {self.kernel.get(name, 0):,}" for name in KERNEL_COUNTERS) +
                " (TCPTimeWaitOverflow: connections closed without TIME_WAIT because the "
                "table was full, so their ports could be reused at once)")
        out.append(f"       backend accepted {c['echo_accepted']:,} connections "
                   f"({c['echo_resets']:,} ended by a reset or error, {c['echo_empty']:,} "
                   f"carried no byte), received "
                   f"{human_bytes(c['echo_bytes'])}")
        loss = percent(c["udp_lost"], c["udp_sent"])
        out.append(f"  UDP: {c['udp_sent']:,} requests sent, {c['udp_answered']:,} answered "
                   f"and verified in time and {c['udp_late']:,} late (after "
                   f"{UDP_REPLY_WAIT_S:.0f} s) ({human_bytes(c['udp_bytes_verified'])}), lost "
                   f"{c['udp_lost']:,} ({loss:.3f} %; {c['udp_lost_empty']} of them "
                   f"zero-length), corrupted {c['udp_corrupt']}, stray {c['udp_stray']}, "
                   f"send errors {c['udp_send_errors']}, {c['udp_bursts']} bursts; backend "
                   f"echoed {c['udp_echo_datagrams']:,}")
        listener = self.udp_drops.get(self.listener_inode, 0)
        echo = self.udp_drops.get(self.echo_inode, 0)
        sessions = sum(v for k, v in self.udp_drops.items()
                       if k not in (self.listener_inode, self.echo_inode))
        out.append(f"       datagrams the kernel dropped for full receive buffers: proxy "
                   f"listener {listener}, proxy session sockets {sessions} (sampled every "
                   f"second), echo backend {echo}")
        out.append("")
        out.append("  trends (2nd quarter of the samples vs the last quarter; memory: medians, "
                   "fds: minimums):")
        out.extend(f"    {line}" for line in trends)
        for proto, proxy in self.proxies.items():
            # warnings, errors, crash output: not the routine info and debug lines
            tail = [line for line in stderr_tail(proxy, 100000)
                    if " INF " not in line and " DBG " not in line and "Proxying" not in line]
            if tail:
                out.append(f"  {proto} proxy stderr (last lines other than info and debug):")
                out.extend(f"    {line}" for line in tail[-15:])
        out.append("")
        if failures:
            out.append("FAIL:")
            out.extend(f"  - {text}" for text in failures)
        else:
            out.append("PASS: no corrupted byte, no lost TCP reply, both proxies alive and "
                       f"never stalled, UDP loss {loss:.3f} % (limit "
                       f"{100 * UDP_LOSS_LIMIT:.0f} %), no growth of memory or fds, no socket "
                       "left open in the TCP proxy after the load")
        return "\n".join(out)

    def write_samples(self, path):
        with open(path, "w") as out:
            out.write("t,tcp_private_kib,tcp_fds,tcp_cpu_ticks,tcp_threads,udp_private_kib,"
                      "udp_fds,udp_cpu_ticks,udp_threads," + ",".join(COUNTERS) + "\n")
            for sample in self.samples:
                cells = [f"{sample['t']:.0f}"]
                for proto in ("tcp", "udp"):
                    figures = sample.get(proto)
                    cells += [str(v) for v in figures[:4]] if figures else ["", "", "", ""]
                cells += [str(sample["counters"][name]) for name in COUNTERS]
                out.write(",".join(cells) + "\n")


# --------------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="soak.sh",
        description="Soak test: mixed TCP and UDP load through a TCP and a UDP proxy of one "
                    "docker-proxy binary, with memory and fd sampling and a pass/fail verdict.")
    parser.add_argument("--seconds", type=int, default=60,
                        help="duration of the load (default 60)")
    parser.add_argument("--binary", default="artifacts/publish/docker-proxy",
                        help="the proxy binary (default: artifacts/publish/docker-proxy)")
    parser.add_argument("--udp-timeout", default=UDP_TIMEOUT_DEFAULT, metavar="DURATION",
                        help="-udp-timeout given to the UDP proxy when the binary takes it "
                             f"(default {UDP_TIMEOUT_DEFAULT}; empty: not given)")
    parser.add_argument("--proxy-arg", action="append", default=[], metavar="ARG",
                        help="an extra argument for both proxies (repeatable), "
                             "e.g. --proxy-arg=-copy-mode --proxy-arg=pipelines")
    parser.add_argument("--log-dir", metavar="DIR",
                        help="keep the proxies' stderr in DIR (tcp-proxy.stderr, "
                             "udp-proxy.stderr) instead of a temporary directory")
    parser.add_argument("--samples", metavar="FILE",
                        help="also write every per-second sample to FILE (CSV)")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.seconds > 7 * 24 * 3600:
        parser.error("--seconds must be between 1 and 604800")
    resolved = core.resolve_binary(args.binary)
    if resolved is None:
        parser.error(f"{args.binary!r} is not an executable file "
                     "(build/publish.sh builds ours, build/fetch-originals.sh the originals)")
    args.binary = resolved
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    return args


def main(argv):
    args = parse_args(argv)
    core.raise_fd_limit(16384)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    run = Run(args)
    harness_errors = []
    try:
        tcp_backend, udp_backend = run.start_backends()
        try:
            run.start_proxies(tcp_backend, udp_backend)
        except MeasureError as error:
            print(f"FAIL: the proxy did not start: {error}", flush=True)
            for proxy in run.proxies.values():
                for line in stderr_tail(proxy):
                    print(f"  {proxy.proto} proxy stderr: {line}")
            return 1
        time.sleep(0.5)
        for proto, proxy in run.proxies.items():
            run.before[proto] = sample_proxy(proxy)
            run.sockets_before[proto] = len(socket_inodes(proxy.pid))
        print(f"soak: {args.binary}, {args.seconds} s; tcp proxy PID "
              f"{run.proxies['tcp'].pid} on {LOOPBACK}:{run.proxies['tcp'].host_port}, udp "
              f"proxy PID {run.proxies['udp'].pid} on {LOOPBACK}:"
              f"{run.proxies['udp'].host_port}; {len(WORKERS)} load processes, "
              f"3 echo processes", flush=True)
        kernel_before = kernel_counters()
        run.start_workers()
        run.drive()
        harness_errors = run.stop_workers()
        kernel_after = kernel_counters()
        run.kernel = {name: kernel_after[name] - kernel_before.get(name, 0)
                      for name in kernel_after}
        run.final_counters = totals(run.shared, run.slots)
        for proto, proxy in run.proxies.items():
            if sample_proxy(proxy) is None and proto not in run.deaths:
                status = poll_exit(proxy)
                run.deaths[proto] = f"{proto} proxy (PID {proxy.pid}) " + (
                    core.describe_status(status) if status is not None else "vanished") + \
                    " while the load drained"
        run.settle_after_load()
        live = [p for p in run.proxies.values() if poll_exit(p) is None]
        core.stop_proxies(live)
        run.stop_backends()
        harness_errors += list(run.backend_deaths.values())
        run.final_counters = totals(run.shared, run.slots)
        failures, trends = run.verdict(harness_errors)
        print(run.summary(failures, trends), flush=True)
        if args.samples:
            run.write_samples(args.samples)
        if harness_errors or run.final_counters["errors"]:
            return 2
        return 1 if failures else 0
    finally:
        run.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""SCTP relay cases, run inside the SCTP guest (build/sctp-vm.sh) against each implementation.

    python3 tests/sctp/sctp_cases.py --impl ours=PATH --impl 20.10=PATH [--case NAME]...

Each case starts the proxy the way dockerd does (status pipe on fd 3, stdin/stdout on /dev/null)
in front of a backend run here, drives real SCTP associations over loopback, and prints one line:

    case IMPL NAME PASS|FAIL detail

then "sctp: N passed, N failed". Exit status 0 only when every case passed. Messages carry their
stream id, PPID and unordered flag in the SCTP_SNDRCV control message (struct sctp_sndrcvinfo).
The backend answers each message on stream 31 - s (mod its stream count) with the PPID's bits
inverted, so that what reaches the client tells the two directions apart.
"""
import argparse
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import threading
import time

IPPROTO_SCTP = 132
SCTP_INITMSG = 2
SCTP_NODELAY = 3
SCTP_EVENTS = 11
SCTP_STATUS = 14
SCTP_SNDRCV = 1
SCTP_UNORDERED = 1
MSG_EOR = 0x80
SNDRCV = struct.Struct("=HHH2xIIIIIi")  # struct sctp_sndrcvinfo, 32 bytes
DEADLINE = 10.0  # seconds any single wait may take (emulated CPU: generous)


class Message:
    def __init__(self, data, stream, ppid, flags):
        self.data, self.stream, self.ppid, self.flags = data, stream, ppid, flags

    def __repr__(self):
        return f"<{len(self.data)} bytes s={self.stream} ppid={self.ppid:#x} flags={self.flags:#x}>"


def sctp_socket(family, out_streams=10, in_streams=0):
    s = socket.socket(family, socket.SOCK_STREAM, IPPROTO_SCTP)
    s.setsockopt(IPPROTO_SCTP, SCTP_INITMSG, struct.pack("=HHHH", out_streams, in_streams, 0, 0))
    s.setsockopt(IPPROTO_SCTP, SCTP_EVENTS, b"\x01")  # sctp_data_io_event: SCTP_SNDRCV on receive
    s.setsockopt(IPPROTO_SCTP, SCTP_NODELAY, 1)
    return s


def send(sock, data, stream=0, ppid=0, unordered=False):
    info = SNDRCV.pack(stream, 0, SCTP_UNORDERED if unordered else 0, ppid, 0, 0, 0, 0, 0)
    sock.sendmsg([data], [(IPPROTO_SCTP, SCTP_SNDRCV, info)])


def recv_message(sock, timeout=DEADLINE):
    """One whole message (parts joined until MSG_EOR); None at the end of the association."""
    parts, info, end = [], None, time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            raise TimeoutError("no message within %.0f s" % timeout)
        data, ancdata, flags, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(SNDRCV.size))
        if not data and not parts:
            return None
        for level, kind, payload in ancdata:
            if level == IPPROTO_SCTP and kind == SCTP_SNDRCV and info is None:
                info = SNDRCV.unpack(payload[:SNDRCV.size])
        parts.append(data)
        if flags & MSG_EOR:
            stream, _, mflags, ppid = info[0], info[1], info[2], info[3]
            return Message(b"".join(parts), stream, ppid, mflags)


def wait_end(sock, timeout=DEADLINE):
    """Reads until the association ends; returns "eof", "reset" or raises TimeoutError."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if recv_message(sock, max(0.01, end - time.monotonic())) is None:
                return "eof"
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return "reset"
        except OSError as e:
            if isinstance(e, TimeoutError):
                raise
            return "error " + e.strerror
    raise TimeoutError("the association did not end")


def free_port(family, host):
    with socket.socket(family, socket.SOCK_STREAM, IPPROTO_SCTP) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Backend:
    """Accepts associations; answers each message (see the module docstring); records what came."""

    def __init__(self, family, host, streams=64, answer=True):
        self.sock = sctp_socket(family, out_streams=streams)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.streams, self.answer = streams, answer
        self.received = []  # (association number, Message)
        self.associations = 0
        self.inbound_streams = []
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stopping:
            if not select.select([self.sock], [], [], 0.2)[0]:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.associations += 1
                number = self.associations
            conn.setsockopt(IPPROTO_SCTP, SCTP_EVENTS, b"\x01")
            # struct sctp_status: sstat_instrms at offset 16, what the proxy dialled with
            status = conn.getsockopt(IPPROTO_SCTP, SCTP_STATUS, 256)
            self.inbound_streams.append(struct.unpack_from("=H", status, 16)[0])
            t = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn, number):
        with conn:
            while not self.stopping:
                try:
                    m = recv_message(conn, timeout=60)
                except (OSError, TimeoutError):
                    return
                if m is None:
                    return
                with self.lock:
                    self.received.append((number, m))
                if self.answer:
                    try:
                        send(conn, m.data, (31 - m.stream) % self.streams, m.ppid ^ 0xFFFFFFFF,
                             bool(m.flags & SCTP_UNORDERED))
                    except OSError:
                        return

    def messages(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.stopping = True
        self.sock.close()


class Proxy:
    """The implementation under test, started as dockerd starts it."""

    def __init__(self, path, host, port, backend_host, backend_port, listen_fd=None):
        self.log = tempfile.TemporaryFile()
        r, w = os.pipe()
        argv = [path, "-proto", "sctp", "-host-ip", host, "-host-port", str(port),
                "-container-ip", backend_host, "-container-port", str(backend_port)]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, self.log.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, self.log.fileno(), 2),
            (os.POSIX_SPAWN_DUP2, w, 3),
        ]
        if listen_fd is not None:  # as dockerd 28+ passes a listener: fd 4 and -use-listen-fd last
            argv.append("-use-listen-fd")
            actions.append((os.POSIX_SPAWN_DUP2, listen_fd, 4))
        self.pid = os.posix_spawn(path, argv, os.environ, file_actions=actions)
        os.close(w)
        self.status = b""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end and select.select([r], [], [], end - time.monotonic())[0]:
            chunk = os.read(r, 512)
            if not chunk:
                break
            self.status += chunk
            if self.status == b"0\n":
                break
        os.close(r)
        self.exit = None

    def ready(self):
        return self.status == b"0\n"

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while self.exit is None and time.monotonic() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit = os.waitstatus_to_exitcode(st)
                break
            time.sleep(0.01)
        return self.exit

    def stop(self):
        if self.exit is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.exit = -9

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]


class Failed(Exception):
    pass


def check(condition, text):
    if not condition:
        raise Failed(text)


def connect(proxy_port, family=socket.AF_INET, host="127.0.0.1", streams=10):
    c = sctp_socket(family, out_streams=streams)
    c.settimeout(DEADLINE)
    c.connect((host, proxy_port))
    c.settimeout(None)
    return c


# --- the cases -----------------------------------------------------------------------------

def echo(path, family, host):
    backend = None
    proxy = None
    try:
        backend = Backend(family, host)
        port = free_port(family, host)
        proxy = Proxy(path, host, port, host, backend.port)
        check(proxy.ready(), "status %r: %s" % (proxy.status, proxy.output()))
        with connect(port, family, host) as c:
            send(c, b"hello over SCTP", stream=0, ppid=7)
            m = recv_message(c)
            check(m is not None and m.data == b"hello over SCTP", "echo: %r" % m)
            check((m.stream, m.ppid) == (31 % 64, 7 ^ 0xFFFFFFFF), "echo info: %r" % m)
        return "echoed %r" % m
    finally:
        cleanup(backend, proxy)


def case_echo_ipv4(path):
    return echo(path, socket.AF_INET, "127.0.0.1")


def case_echo_ipv6(path):
    return echo(path, socket.AF_INET6, "::1")


def case_streams_and_ppids(path):
    backend, proxy = start(path)
    try:
        ppids = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x12345678, 0xDEADBEEF, 0x01000000]
        sent = [(s, ppids[s % len(ppids)] ^ (s << 8 if s >= len(ppids) else 0), s % 3 == 2) for s in range(32)]
        with connect(proxy.port, streams=32) as c:
            for s, ppid, unordered in sent:
                send(c, b"stream %d" % s, stream=s, ppid=ppid, unordered=unordered)
                m = recv_message(c)
                check(m is not None, "no answer on stream %d" % s)
                check(m.data == b"stream %d" % s, "answer %r" % m)
                check((m.stream, m.ppid) == (31 - s, ppid ^ 0xFFFFFFFF), "to the client: sent s=%d ppid=%#x, got %r" % (s, ppid, m))
                check(bool(m.flags & SCTP_UNORDERED) == unordered, "unordered flag to the client: %r" % m)
        got = [(m.stream, m.ppid, bool(m.flags & SCTP_UNORDERED)) for _, m in backend.messages()]
        check(got == sent, "to the backend: %r" % [g for g, e in zip(got, sent) if g != e][:3])
        return ("streams 0-31, PPIDs up to 0xFFFFFFFF and the unordered flag kept both ways; "
                "the backend association has %s inbound streams" % backend.inbound_streams)
    finally:
        cleanup(backend, proxy)


def case_burst_in_order_per_stream(path):
    backend, proxy = start(path)
    try:
        streams, per_stream = 16, 40
        with connect(proxy.port, streams=streams) as c:
            for i in range(per_stream):
                for s in range(streams):
                    send(c, b"%d:%d:" % (s, i) + b"x" * ((i * 37 + s * 11) % 1500), stream=s, ppid=s)
            answers = [recv_message(c) for _ in range(streams * per_stream)]
        check(all(a is not None for a in answers), "an answer is missing")
        for label, messages in (("backend", [m for _, m in backend.messages()]), ("client", answers)):
            check(len(messages) == streams * per_stream, "%s got %d messages" % (label, len(messages)))
            order = {}
            for m in messages:
                s, i = (int(x) for x in m.data.split(b":")[:2])
                order.setdefault(s, []).append(i)
                expected_stream = s if label == "backend" else 31 - s
                check(m.stream == expected_stream, "%s: message %d of stream %d on stream %d" % (label, i, s, m.stream))
            check(all(v == list(range(per_stream)) for v in order.values()), "%s: out of order within a stream" % label)
        return "%d messages on %d streams, in order per stream both ways" % (streams * per_stream, streams)
    finally:
        cleanup(backend, proxy)


def case_large_message_whole(path):
    backend, proxy = start(path)
    try:
        payload = bytes((i * 7 + 3) % 251 for i in range(100000))
        with connect(proxy.port) as c:
            send(c, payload, stream=3, ppid=0xCAFE)
            deadline = time.monotonic() + DEADLINE
            while sum(len(m.data) for _, m in backend.messages()) < len(payload) and time.monotonic() < deadline:
                time.sleep(0.05)
            at_backend = [m for _, m in backend.messages()]
            answers = []
            while sum(len(m.data) for m in answers) < sum(len(m.data) for m in at_backend):
                answers.append(recv_message(c))
        check(b"".join(m.data for m in at_backend) == payload, "the bytes differ at the backend")
        check(all((m.stream, m.ppid) == (3, 0xCAFE) for m in at_backend), "stream/PPID at the backend: %r" % at_backend)
        check(len(at_backend) == 1, "the backend got %d messages: %s" % (len(at_backend), [len(m.data) for m in at_backend]))
        check(len(answers) == 1 and answers[0].data == payload, "the client got %d messages back" % len(answers))
        return "100000 bytes arrived as one message both ways"
    finally:
        cleanup(backend, proxy)


def case_client_closes_after_a_burst(path):
    backend = Backend(socket.AF_INET, "127.0.0.1", answer=False)
    port = free_port(socket.AF_INET, "127.0.0.1")
    proxy = Proxy(path, "127.0.0.1", port, "127.0.0.1", backend.port)
    try:
        check(proxy.ready(), "status %r: %s" % (proxy.status, proxy.output()))
        with connect(port, streams=4) as c:
            for i in range(200):
                send(c, b"%d:" % i + b"y" * 2000, stream=i % 4, ppid=i)
        # closed at once: everything sent before the SHUTDOWN must still reach the backend
        deadline = time.monotonic() + DEADLINE
        while len(backend.messages()) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        got = [int(m.data.split(b":")[0]) for _, m in backend.messages()]
        check(sorted(got) == list(range(200)), "the backend got %d of 200 messages" % len(got))
        return "all 200 messages sent before the client's SHUTDOWN reached the backend"
    finally:
        cleanup(backend, proxy)


def case_two_associations(path):
    backend, proxy = start(path)
    try:
        with connect(proxy.port) as a, connect(proxy.port) as b:
            for i in range(20):
                send(a, b"a%d" % i, stream=1, ppid=1)
                send(b, b"b%d" % i, stream=2, ppid=2)
            got_a = [recv_message(a).data for _ in range(20)]
            got_b = [recv_message(b).data for _ in range(20)]
        check(got_a == [b"a%d" % i for i in range(20)], "first association got %r" % got_a[:3])
        check(got_b == [b"b%d" % i for i in range(20)], "second association got %r" % got_b[:3])
        check(backend.associations == 2, "the backend saw %d associations" % backend.associations)
        return "two associations relayed at once, each to its own backend association"
    finally:
        cleanup(backend, proxy)


def case_backend_refusing(path):
    port = free_port(socket.AF_INET, "127.0.0.1")
    dead = free_port(socket.AF_INET, "127.0.0.1")  # nothing listens there
    proxy = Proxy(path, "127.0.0.1", port, "127.0.0.1", dead)
    try:
        check(proxy.ready(), "status %r: %s" % (proxy.status, proxy.output()))
        ends = []
        for _ in range(2):
            with connect(port) as c:
                ends.append(wait_end(c))
        check(proxy.wait(0.2) is None, "the proxy exited (%s)" % proxy.exit)
        check(ends == ["eof", "eof"], "the client saw %r" % ends)
        return "each client association ended (%s); the proxy kept serving" % ", ".join(ends)
    finally:
        cleanup(None, proxy)


def stop_on(path, sig):
    backend, proxy = start(path)
    try:
        with connect(proxy.port) as c:
            send(c, b"before the signal", stream=0, ppid=1)
            check(recv_message(c) is not None, "no echo before the signal")
            proxy.signal(sig)
            status = proxy.wait()
        check(status == 0, "exit status %r after %s" % (status, sig.name))
        return "exit 0 on %s with an association open" % sig.name
    finally:
        cleanup(backend, proxy)


def case_sigint_exits_0(path):
    return stop_on(path, signal.SIGINT)


def case_sigterm_exits_0(path):
    return stop_on(path, signal.SIGTERM)


def case_ours_adopts_a_listener_on_fd_4(path):
    # No engine passes an SCTP listener so far; ours serves one as it is (the originals are not asked).
    backend = Backend(socket.AF_INET6, "::1")
    listener = sctp_socket(socket.AF_INET6)
    listener.bind(("::1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    proxy = Proxy(path, "::1", port, "::1", backend.port, listen_fd=listener.fileno())
    listener.close()  # the proxy holds the only copy now
    try:
        check(proxy.ready(), "status %r: %s" % (proxy.status, proxy.output()))
        with connect(port, socket.AF_INET6, "::1", streams=32) as c:
            send(c, b"through fd 4", stream=20, ppid=0xFFFFFFFF)
            m = recv_message(c)
        check(m is not None and (m.data, m.stream, m.ppid) == (b"through fd 4", 11, 0), "got %r" % m)
        return "the listener passed on fd 4 served, 32 streams offered"
    finally:
        cleanup(backend, proxy)


def case_port_in_use(path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_SCTP) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proxy = Proxy(path, "127.0.0.1", port, "127.0.0.1", 9)
        try:
            status = proxy.wait()
            check(proxy.status.startswith(b"1\n") and status == 1, "status %r, exit %r" % (proxy.status, status))
            return "status %r" % proxy.status.decode()
        finally:
            cleanup(None, proxy)


def start(path):
    backend = Backend(socket.AF_INET, "127.0.0.1")
    port = free_port(socket.AF_INET, "127.0.0.1")
    proxy = Proxy(path, "127.0.0.1", port, "127.0.0.1", backend.port)
    proxy.port = port
    if not proxy.ready():
        cleanup(backend, proxy)
        raise Failed("status %r: %s" % (proxy.status, proxy.output()))
    return backend, proxy


def cleanup(backend, proxy):
    if proxy is not None:
        if proxy.exit is None:
            proxy.signal(signal.SIGTERM)
            if proxy.wait(5) is None:
                proxy.stop()
    if backend is not None:
        backend.close()


CASES = [(name[5:], fn) for name, fn in sorted(globals().items()) if name.startswith("case_")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--case", action="append", help="run only these cases")
    args = parser.parse_args()
    passed = failed = 0
    started = time.monotonic()
    for spec in args.impl:
        name, path = spec.split("=", 1)
        for case, fn in CASES:
            if args.case and case not in args.case:
                continue
            if case.startswith("ours_") and name != "ours":
                continue  # a feature of ours alone
            t0 = time.monotonic()
            try:
                detail, ok = fn(path), True
            except Failed as e:
                detail, ok = str(e), False
            except Exception as e:  # a case that crashed failed, with the reason
                detail, ok = "%s: %s" % (type(e).__name__, e), False
            passed += ok
            failed += not ok
            print("case %s %s %s %s (%.1f s)" % (name, case, "PASS" if ok else "FAIL",
                                                  detail.replace("\n", " "), time.monotonic() - t0), flush=True)
    print("sctp cases took %.1f s" % (time.monotonic() - started))
    print("sctp: %d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

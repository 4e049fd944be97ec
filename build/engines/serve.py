"""The engine tests' container backend (image dpe-tiny, run with the host's /usr mounted read-only).

  tcp 80    HTTP: files under /srv/www (python's http.server)
  tcp 7     echo: echoes until the client half-closes, then half-closes too and closes
  udp 5353  echo: each datagram back to its sender

Prints "serve: ready" once all three listen. Ends on SIGTERM or SIGINT.
"""
import functools
import http.server
import signal
import socket
import socketserver
import sys
import threading


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)


class ThreadingTCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def udp_echo(sock):
    while True:
        data, peer = sock.recvfrom(65535)
        sock.sendto(data, peer)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Bound in this order, HTTP last: a connection to port 80 succeeding means all three listen.
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 5353))
    echo_server = ThreadingTCP(("0.0.0.0", 7), EchoHandler)
    http_server = http.server.ThreadingHTTPServer(
        ("0.0.0.0", 80), functools.partial(QuietHandler, directory="/srv/www"))
    threading.Thread(target=udp_echo, args=(udp,), daemon=True).start()
    threading.Thread(target=echo_server.serve_forever, daemon=True).start()
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    print("serve: ready", flush=True)
    signal.pause()


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, SystemExit):
        pass

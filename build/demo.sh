#!/usr/bin/env bash
# Publishes docker-proxy and shows it relaying: a tiny echo backend on 127.0.0.1 (standing in for a
# container), the proxy in front of it on 127.0.0.1:HOSTPORT, and a client that talks through it.
#   build/demo.sh [HOSTPORT]      (default 8080)
# Needs python3 for the demo backend and client.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
host_port=${1:-8080}
bin=$("$root/build/publish.sh")

backend_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$backend_port" <<'PY' &
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(); srv.settimeout(30)
for _ in range(3):
    conn, peer = srv.accept()
    with conn:
        data = conn.recv(65536)
        conn.sendall(b"container saw: " + data)
PY
backend=$!
proxy=
cleanup() { [ -n "$proxy" ] && kill -INT "$proxy" 2>/dev/null; kill "$backend" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "demo: backend (the 'container') on 127.0.0.1:$backend_port"
echo "demo: $bin -proto tcp -host-ip 127.0.0.1 -host-port $host_port -container-ip 127.0.0.1 -container-port $backend_port"
"$bin" -proto tcp -host-ip 127.0.0.1 -host-port "$host_port" -container-ip 127.0.0.1 -container-port "$backend_port" -log-level debug 3>&- 4>&- &
proxy=$!
sleep 0.3

python3 - "$host_port" <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as c:
    c.sendall(b"hello through docker-proxy\n")
    print("demo: client got back:", c.recv(65536).decode().strip())
PY

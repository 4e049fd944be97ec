#!/usr/bin/env bash
# Measures the UDP relay of docker-proxy binaries side by side and prints a markdown table
# (proxy run as: BIN -proto udp -host-ip 127.0.0.1 -host-port P -container-ip 127.0.0.1
# -container-port Q, in front of a UDP echo backend):
#   1. request/response rate: 64-byte datagrams, closed loop (send, wait for the reply, send
#      the next) for 3 s, with 1 client and with 64 clients (64 sockets, distinct source
#      ports); requests/s summed over the clients, round-trip p50 and p99 for 1 client, and
#      the proxy's CPU seconds (utime + stime, /proc/PID/stat) per 100,000 requests;
#   2. sparse traffic: one client sends a request every millisecond (1,000/s) for as long as a
#      rate run and waits for each reply; the proxy's CPU seconds per 100,000 requests;
#   3. first-datagram loss: 4,000 new client sockets each send one datagram, back to back;
#      the percentage that got no reply within 3 s;
#   4. private memory per session: growth of the proxy's Private_Clean + Private_Dirty
#      (/proc/PID/smaps_rollup) from before the first client to when all 4,000 clients of
#      metric 3 have had a reply (the silent ones resend until they do) and the sessions idle (the
#      proxy's idle timeout is 90 s); total in MiB and per session in KiB.
# NAME= (an empty BIN, e.g. direct=) means no proxy: the clients talk to the echo backend
# themselves, which shows the limit of the load generator (it has no CPU or memory figures).
# The echo backend and the clients are Python processes (the 64 clients multiplexed with epoll
# in one process). With the proxy that makes three busy processes; on a 2-core machine the
# absolute figures are bounded by the Python load generator, not by the proxy, which is why the
# ratios between binaries measured the same way are what count.
# Binaries are measured interleaved (round robin), so that noise on a shared machine hits all
# alike; every cell is the median of 3 rounds followed by (min–max). Ratio columns compare each
# binary's median with the best of the other binaries whose NAME starts with "orig": for
# requests/s higher is better (ratio > 1 beats the original), everywhere else lower is better.
# Everything stays on 127.0.0.1; every wait is bounded (10 s); only PIDs started here are
# signalled. RLIMIT_NOFILE is raised to 16384 for the script and the proxies it starts. The
# work is done by build/tools/measure_udp.py (Python 3, standard library only), which reuses
# build/tools/measure_core.py.
#
#   build/measure-udp.sh [--quick] [--out FILE] NAME=BIN [NAME=BIN ...]
#
#   --quick     smoke test: 1 s per rate run, 1 round
#   --out FILE  also write the table to FILE
# BIN is taken relative to the current directory, else relative to the repository root.
# Progress goes to stderr. Exits 2 on a usage error, 1 if a binary could not be measured at all.
#
# Example:
#   build/measure-udp.sh direct= ours=artifacts/publish/docker-proxy \
#     orig-20.10=artifacts/originals/20.10/docker-proxy orig-28.5=artifacts/originals/28.5/docker-proxy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 -B "$here/tools/measure_udp.py" "$@"

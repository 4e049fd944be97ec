#!/usr/bin/env bash
# Soak test of one docker-proxy binary: a TCP proxy and a UDP proxy of it, each in front of an
# echo backend run by the script, under mixed load for N seconds:
#   - short TCP connections, 48 at a time: a header (length, CRC-32) and a random payload of
#     0 B to 256 KiB, the echo read back and compared byte for byte; 30 % half-close after
#     sending (and must see every byte, then EOF), 5 % reset the connection (SO_LINGER 0);
#   - 4 long-lived TCP streams moving data continuously, verified as it comes back, each ending
#     with a half-close after 20-60 s;
#   - UDP request/response from 384 source ports, sequence numbers, payloads of 0-8192 bytes
#     compared byte for byte (a reply after 2 s is late, none within 12 s is lost);
#   - bursts every 3-7 s: 100 TCP connections at once, or 128 UDP sockets at once.
# The load runs in five forked Python processes, the echo backends in three more. Every second
# the script samples each proxy's private memory (Private_Clean + Private_Dirty of
# /proc/PID/smaps_rollup), open fds (/proc/PID/fd), threads and CPU time; it prints a line
# every 10 s and a summary at the end.
#
# Exit status 1 on: any corrupted byte (TCP or UDP), any lost TCP reply (a connection whose
# echo did not come back intact), a proxy that died, a relay that completed nothing for 5 s
# while the other one did (its threads are then described), UDP loss above 1 %, growth between
# the second and the last quarter of the samples of a proxy's private memory (medians, beyond
# 4 MiB + 10 %) or open fds (minimums, beyond 32 + 10 %, and 128 more for the UDP proxy), or
# sockets still open in the TCP proxy after the load (in the UDP proxy too when it was given a
# short -udp-timeout). Exit status 2 on a usage error or a failure of the load generator
# itself; 0 when the binary passed. The first lost TCP replies are described on stderr with the
# client's port, to be matched with the proxy's log (--log-dir, --proxy-arg=-log-level
# --proxy-arg=debug). See docs/reliability.md.
#
# A binary that takes -udp-timeout (ours) gets -udp-timeout 5s, so that UDP sessions churn
# during the run; the originals keep theirs for 90 s.
# Everything stays on 127.0.0.1, every wait is bounded, and only PIDs started here are
# signalled. The work is done by build/tools/soak.py (Python 3, standard library only), which
# reuses build/tools/measure_core.py.
#
#   build/soak.sh [--seconds N] [--binary PATH] [--udp-timeout DURATION]
#                 [--proxy-arg ARG]... [--log-dir DIR] [--samples FILE]
#
#   --seconds N           duration of the load (default 60)
#   --binary PATH         the binary (default artifacts/publish/docker-proxy, built by
#                         build/publish.sh); relative to the current directory, else to the
#                         repository root
#   --udp-timeout D       -udp-timeout for binaries that take it (default 5s; '' for none)
#   --proxy-arg ARG       an extra argument for both proxies, e.g.
#                         --proxy-arg=-copy-mode --proxy-arg=pipelines
#   --log-dir DIR         keep the proxies' stderr in DIR (tcp-proxy.stderr, udp-proxy.stderr)
#   --samples FILE        also write the per-second samples to FILE (CSV)
#
# Examples:
#   build/soak.sh
#   build/soak.sh --seconds 600
#   build/soak.sh --binary artifacts/originals/28.5/docker-proxy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 "$here/tools/soak.py" "$@"

#!/usr/bin/env bash
# Measures the core costs of docker-proxy binaries side by side and prints a markdown table:
#   1. start-up: time from exec (posix_spawn) to "0\n" on fd 3; median, min and max of
#      20 runs per binary (proxy on 127.0.0.1, host port 0), each stopped with SIGINT;
#   2. memory per idle process: mean PSS and RSS (/proc/PID/smaps_rollup) of 50 proxies of
#      the same binary running at once, read ~1 s after all are ready;
#   3. private memory per idle relayed connection: growth of Private_Clean + Private_Dirty of
#      one proxy after 1,000 client connections through it have each delivered a 16-byte
#      message to a local backend that holds them open, divided by 1,000.
# Binaries are measured interleaved (round robin), so that noise on a shared machine hits all
# alike; the memory figures are medians over 3 rounds. Ratio columns compare each binary with
# the best of the other binaries whose NAME starts with "orig" (lower is better everywhere).
# Everything stays on 127.0.0.1; every wait is bounded (10 s); only PIDs started here are
# signalled. The work is done by build/tools/measure_core.py (Python 3, standard library only).
#
#   build/measure-core.sh [--quick] [--out FILE] NAME=BIN [NAME=BIN ...]
#
#   --quick     smoke test: 5 start-ups, 10 processes, 200 connections, 1 round
#   --out FILE  also write the table to FILE
# BIN is taken relative to the current directory, else relative to the repository root.
# Progress goes to stderr. Exits 2 on a usage error, 1 if a binary could not be measured at all.
#
# Example:
#   build/measure-core.sh ours=artifacts/publish/docker-proxy \
#     orig-20.10=artifacts/originals/20.10/docker-proxy orig-28.5=artifacts/originals/28.5/docker-proxy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 "$here/tools/measure_core.py" "$@"

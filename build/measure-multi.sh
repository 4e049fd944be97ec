#!/usr/bin/env bash
# Measures one process mapping many ports (-map ranges) against one process per port, the way
# the original publishes a range: time from exec to "0\n" on fd 3, and PSS / private memory
# (/proc/PID/smaps_rollup) after 1 s idle. The one-process-per-port figures come from a sample
# of processes (default 200) started one after the other as dockerd does, extrapolated linearly
# to the port count; the table says so. Prints a markdown table. Work done by
# build/tools/measure_multi.py (Python 3, standard library only); everything on 127.0.0.1.
#
#   build/measure-multi.sh [--ports N] [--sample N] [--runs N] --ours BIN [--original NAME=BIN ...]
#
# Example:
#   build/measure-multi.sh --ours artifacts/publish/docker-proxy \
#     --original orig-20.10=artifacts/originals/20.10/docker-proxy \
#     --original orig-28.5=artifacts/originals/28.5/docker-proxy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 "$here/tools/measure_multi.py" "$@"

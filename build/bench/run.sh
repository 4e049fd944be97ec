#!/usr/bin/env bash
# Side-by-side performance benchmark: no proxy (direct), Docker's docker-proxy 20.10 and 28.5,
# and ours in both TCP copy modes (ours-splice, ours-pipelines), measured interleaved in one run:
#   - TCP bulk throughput, 1 and 4 streams (iperf3 through the proxy to iperf3 -s), the proxy's
#     CPU seconds per GB relayed and its peak RSS (VmHWM) in the 4-stream run;
#   - 64-byte request/response over 1 TCP connection (p50, p99, requests/s) and 16 (requests/s);
#   - new connection + one 64-byte round trip + close, with 1 and 16 concurrent clients;
#   - UDP 64-byte request/response with 1 and 64 clients (distinct source ports);
#   - start-up (exec to "0\n" on fd 3), PSS per idle process (50 running), private memory per
#     idle TCP connection (1,000) and per UDP session (4,000), from build/tools/measure_*.py.
# Every round measures every metric for every column in turn (the first column rotates each
# round); cells are medians with (min-max), plus ratios ours-X / direct and ours-X / best
# original. The request/response, connect and UDP traffic and the echo backends come from
# build/bench/LoadGen (C#, NativeAOT, published here to artifacts/bench/loadgen).
#
#   build/bench/run.sh [--quick] [--rounds N] [--publish] [--no-docs | --docs]
#   build/bench/run.sh --render [FILE] [--no-docs | --docs]
#
#   --quick      smoke test: 1 round, 2 s bulk runs, 1 s windows, fewer start-ups and
#                idle processes/connections; writes artifacts only unless --docs
#   --rounds N   rounds (default 3; 1 with --quick)
#   --publish    rebuild ours with build/publish.sh first (default: only if missing)
#   --no-docs    do not rewrite docs/performance.md and docs/performance-ratios.svg
#   --docs       rewrite them after a --quick run too
#   --render     measure nothing: print and write the outputs again from the samples of an
#                earlier run (FILE, default artifacts/bench/results.json), e.g. after a change
#                to the layout
# For experiments: --only NAME,NAME (a subset of the columns), --udp-threads N (threads driving
# the 64 UDP clients; default 1).
#
# Prints the markdown table on stdout; writes artifacts/bench/{results.md,results.json,
# performance-ratios.svg,run.log} and, for a full run, the section between <!-- bench:begin -->
# and <!-- bench:end --> in docs/performance.md plus docs/performance-ratios.svg. The binaries
# are copied to artifacts/bench/bin first, so a rebuild during the run changes nothing.
# Needs the .NET SDK, python3 and iperf3 (installed with apt-get when missing, as root).
# Everything stays on 127.0.0.1; every wait is bounded; only PIDs started here are signalled.
# Exits 1 if any measurement failed or any problem (crash, stall, wrong bytes) was seen.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/build/bench
out=$root/artifacts/bench
command_line="build/bench/run.sh${*:+ $*}"

publish=0
render=
pass=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) pass+=(--quick) ;;
    --rounds) [ $# -ge 2 ] || { echo "run.sh: --rounds needs a number" >&2; exit 2; }
              pass+=(--rounds "$2"); shift ;;
    --rounds=*) pass+=(--rounds "${1#*=}") ;;
    --publish) publish=1 ;;
    --render) render=$out/results.json
              if [ $# -ge 2 ] && [ "${2#--}" = "$2" ]; then render=$2; shift; fi ;;
    --no-docs) pass+=(--docs no) ;;
    --docs) pass+=(--docs yes) ;;
    --udp-threads|--only) [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }
              pass+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

started=$(date +%s)
mkdir -p "$out"

if [ -n "$render" ]; then
  exec python3 -B "$here/bench.py" "${pass[@]}" --render "$render" --out-dir "$out" \
    --command "$command_line"
fi

if ! command -v iperf3 >/dev/null; then
  echo "run.sh: installing iperf3" >&2
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq --no-install-recommends iperf3 >/dev/null ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends iperf3 >/dev/null; }
fi

if [ "$publish" = 1 ] || [ ! -x "$root/artifacts/publish/docker-proxy" ]; then
  echo "run.sh: publishing ours (build/publish.sh)" >&2
  "$root/build/publish.sh" >/dev/null
fi
if [ ! -x "$root/artifacts/originals/20.10/docker-proxy" ] || [ ! -x "$root/artifacts/originals/28.5/docker-proxy" ]; then
  echo "run.sh: fetching the originals (build/fetch-originals.sh)" >&2
  "$root/build/fetch-originals.sh" >/dev/null
fi

# The load generator: republished when a source is newer than the binary.
loadgen=$out/loadgen/loadgen
if [ ! -x "$loadgen" ] || [ -n "$(find "$here/LoadGen" -newer "$loadgen" \( -name '*.cs' -o -name '*.csproj' \) -print -quit)" ]; then
  echo "run.sh: publishing build/bench/LoadGen" >&2
  dotnet publish "$here/LoadGen/LoadGen.csproj" -c Release -r linux-x64 -o "$out/loadgen" \
    --artifacts-path "$out/build" --nologo -v quiet >&2
  rm -f "$out/loadgen"/*.dbg
fi

# Snapshot the binaries (and their VERSION notes) for the whole run.
rm -rf "$out/bin"
for pair in "ours:artifacts/publish" "orig-20.10:artifacts/originals/20.10" "orig-28.5:artifacts/originals/28.5"; do
  name=${pair%%:*} dir=$root/${pair#*:}
  mkdir -p "$out/bin/$name"
  cp "$dir/docker-proxy" "$out/bin/$name/docker-proxy"
  [ ! -f "$dir/VERSION" ] || cp "$dir/VERSION" "$out/bin/$name/VERSION"
done

status=0
python3 -B "$here/bench.py" "${pass[@]}" --loadgen "$loadgen" --bin-dir "$out/bin" \
  --out-dir "$out" --command "$command_line" 2> >(tee "$out/run.log" >&2) || status=$?
echo "run.sh: total $(( $(date +%s) - started )) s (with builds); log in artifacts/bench/run.log" >&2
exit "$status"

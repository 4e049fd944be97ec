#!/usr/bin/env bash
# Runs the whole test suite the way CI does:
#   1. fetches Docker's original docker-proxy 20.10 and 28.5 (build/fetch-originals.sh), for the
#      parity tests that run the same scenarios against them;
#   2. publishes our NativeAOT binary (build/publish.sh), which the process tests start;
#   3. runs every test project, then prints one closing line "tests: N passed, N failed, N skipped";
#   4. the engine tests (tests/DockerProxy.EngineTests, Category=Engine) start private dockerd 20.10
#      and 28.5 engines as root (after build/engines/install.sh); elsewhere they skip with the
#      reason, under CI=true that fails; --filter "Category!=Engine" leaves them out.
#   5. the SCTP tests (tests/DockerProxy.Tests/Sctp, Category=SctpGuest) run every SCTP case in one
#      qemu guest (build/sctp-vm.sh, about a minute); --filter "Category!=SctpGuest" leaves them out.
# Extra arguments go to `dotnet test` (e.g. --filter "Category!=Process").
# Without apt (originals unavailable) the parity tests are skipped with the reason; under CI=true
# a missing original is a failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! build/fetch-originals.sh >/dev/null; then
  [ "${CI:-}" = "true" ] && { echo "test.sh: could not fetch the original docker-proxy" >&2; exit 1; }
  echo "test.sh: the original docker-proxy could not be fetched; parity tests will be skipped" >&2
fi

echo "test.sh: publishing docker-proxy" >&2
build/publish.sh >/dev/null

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
set +e
dotnet test DockerProxy.sln -c Release --nologo -m:1 --logger "trx;LogFilePrefix=run" \
  --logger "console;verbosity=normal" --results-directory "$results" "$@" 2>&1 |
  grep -vE '^\s+Passed DockerProxy|^\s*$'
status=${PIPESTATUS[0]}
set -e

# One summary over every test project, from the TRX files (dotnet test prints one per project).
passed=0 failed=0 skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${t:-0} - ${e:-0}))
done
# The failed tests again, by name with the first lines of their message, so that the end of a long
# log says which ones they were.
if [ "$failed" -gt 0 ]; then
  python3 - "$results" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for trx in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for result in ET.parse(trx).getroot().iterfind(".//t:UnitTestResult", ns):
        if result.get("outcome") != "Failed":
            continue
        message = result.findtext("t:Output/t:ErrorInfo/t:Message", "", ns).strip().splitlines()
        print("failed:", result.get("testName"))
        for line in message[:12]:
            print("   ", line)
PY
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit "$status"

#!/usr/bin/env bash
# Runs the engine tests alone (tests/DockerProxy.EngineTests): real, private dockerd 20.10 and
# 28.5 engines, each once with ours and once with Docker's original docker-proxy of its release.
#   1. installs what they need (build/engines/install.sh, as root; ENGINE_INSTALL=0 skips it);
#   2. fetches the originals and publishes ours (build/publish.sh; skipped when DOCKER_PROXY_BIN
#      names another binary of ours or ENGINE_PUBLISH=0);
#   3. runs the tests, prints each engine's table (ours vs original) and one closing line
#      "engine tests: N passed, N failed, N skipped".
# Extra arguments go to `dotnet test` (e.g. --filter "FullyQualifiedName~Dockerd285").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ "${ENGINE_INSTALL:-1}" != 0 ] && [ "$(id -u)" -eq 0 ]; then
  build/engines/install.sh
else
  build/fetch-originals.sh >/dev/null || echo "engines/test.sh: could not fetch the originals" >&2
fi
if [ -z "${DOCKER_PROXY_BIN:-}" ] && [ "${ENGINE_PUBLISH:-1}" != 0 ]; then
  echo "engines/test.sh: publishing docker-proxy" >&2
  build/publish.sh >/dev/null
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
set +e
dotnet test tests/DockerProxy.EngineTests/DockerProxy.EngineTests.csproj -c Release --nologo \
  --logger "trx;LogFileName=engine.trx" --logger "console;verbosity=normal" --results-directory "$results" "$@" 2>&1 |
  grep -vE '^\s+Passed DockerProxy|^\s*$'
status=${PIPESTATUS[0]}
set -e

counters=$(grep -o '<Counters [^>]*>' "$results/engine.trx" 2>/dev/null | head -1 || true)
p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
echo "engine tests: ${p:-0} passed, ${f:-0} failed, $(( ${t:-0} - ${e:-0} )) skipped"
exit "$status"

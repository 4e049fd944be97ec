#!/usr/bin/env bash
# Publishes the NativeAOT executable: build/publish.sh [OUTDIR]  ->  OUTDIR/docker-proxy
# OUTDIR defaults to artifacts/publish. Trimming and AOT warnings fail the build
# (TreatWarningsAsErrors in Directory.Build.props).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/publish}
mkdir -p "$out"
out=$(cd "$out" && pwd)
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
dotnet publish "$root/src/DockerProxy/DockerProxy.csproj" -c Release -r linux-x64 -o "$out" --nologo -v quiet \
  -p:SourceRevisionId="$commit"
rm -f "$out"/*.dbg "$out"/*.pdb
echo "$out/docker-proxy"

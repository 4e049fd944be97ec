#!/usr/bin/env bash
# Fetches Docker's own docker-proxy (and the dockerd of the same release) from Debian's
# docker.io package, so that tests and benchmarks can run it beside ours.
#
#   build/fetch-originals.sh [DIR]
#
# Leaves DIR/20.10/{docker-proxy,dockerd} (Debian 12's docker.io) and
# DIR/28.5/{docker-proxy,dockerd} (Debian unstable's docker.io, downloaded and
# unpacked only, never installed; its binaries run on Debian 12).
# DIR defaults to artifacts/originals in the repository. Already fetched
# binaries are kept. Needs apt configured for a Debian mirror.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/artifacts/originals}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() { # deb target-dir
  rm -rf "$work/root"
  dpkg-deb -x "$1" "$work/root"
  mkdir -p "$2"
  install -m 0755 "$work/root/usr/sbin/docker-proxy" "$2/docker-proxy"
  install -m 0755 "$work/root/usr/sbin/dockerd" "$2/dockerd"
  dpkg-deb -f "$1" Version > "$2/VERSION"
}

# The release the host's own suite ships (Debian 12: 20.10.x).
if [ ! -x "$dir/20.10/docker-proxy" ]; then
  (cd "$work" && { apt-get download docker.io >/dev/null 2>&1 ||
                   { apt-get update >/dev/null && apt-get download docker.io >/dev/null; }; })
  unpack "$work"/docker.io_*.deb "$dir/20.10"
  rm -f "$work"/docker.io_*.deb
fi

# The newest release, from the same mirror's unstable suite, through a private apt state
# so that the host's sources and lists stay untouched.
if [ ! -x "$dir/28.5/docker-proxy" ]; then
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -m1 -v security || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "fetch-originals: no Debian mirror in the apt sources" >&2; exit 1; }
  mkdir -p "$work/lists/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" > "$work/sid.list"
  opts=(-o Dir::Etc::SourceList="$work/sid.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache")
  apt-get "${opts[@]}" update >/dev/null
  (cd "$work" && apt-get "${opts[@]}" download docker.io >/dev/null)
  unpack "$work"/docker.io_*.deb "$dir/28.5"
fi

echo "$dir"

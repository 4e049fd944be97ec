#!/usr/bin/env bash
# Builds a Debian package of docker-proxy with dpkg-deb:
#   build/package-deb.sh [OUTDIR]   ->  OUTDIR/docker-proxy-relay_VERSION_ARCH.deb (default: artifacts/deb)
# The binary is artifacts/publish/docker-proxy (published first when missing), or DOCKER_PROXY_BIN.
# What the package installs, and why there (docs/install.md):
#   /usr/libexec/docker/docker-proxy                     the binary: the engine's second look-up place,
#                                                        the first one a package may use (/usr/local is
#                                                        the administrator's)
#   /usr/share/man/man1/docker-proxy.1.gz                the man page
#   /usr/lib/systemd/system/docker-proxy@.service        one mapping per instance (Type=notify)
#   /usr/lib/systemd/system/docker-proxy@.socket         its socket-activated listener
#   /usr/share/doc/docker-proxy-relay/                   README, docs, an example instance file, copyright
#   /etc/docker-proxy/                                   where the instance files go (empty)
# Needs dpkg-deb and gzip; writes nothing outside OUTDIR and a temporary folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

binary=${DOCKER_PROXY_BIN:-$root/artifacts/publish/docker-proxy}
if [ ! -x "$binary" ]; then
  echo "package-deb.sh: publishing docker-proxy first" >&2
  "$root/build/publish.sh" >/dev/null
fi
command -v dpkg-deb >/dev/null || { echo "package-deb.sh: dpkg-deb is needed (apt-get install dpkg)" >&2; exit 1; }

package=docker-proxy-relay
version=$(sed -n 's|.*<Version>\(.*\)</Version>.*|\1|p' "$root/src/DockerProxy/DockerProxy.csproj" | head -1)
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "package-deb.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
doc="$stage/usr/share/doc/$package"
install -d -m 0755 "$stage/DEBIAN" "$stage/usr/libexec/docker" "$stage/usr/share/man/man1" \
  "$stage/usr/lib/systemd/system" "$doc" "$stage/etc/docker-proxy"
install -m 0755 "$binary" "$stage/usr/libexec/docker/docker-proxy"
gzip -9n -c "$root/docs/docker-proxy.1" > "$stage/usr/share/man/man1/docker-proxy.1.gz"
install -m 0644 "$root/packaging/systemd/docker-proxy@.service" "$root/packaging/systemd/docker-proxy@.socket" \
  "$stage/usr/lib/systemd/system/"
install -m 0644 "$root/README.md" "$root/docs/"*.md "$doc/"
install -m 0644 "$root/packaging/systemd/example.env" "$doc/example.env"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: docker-proxy"
  echo
  echo "Files: *"
  echo "License: Apache-2.0"
  echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
} > "$doc/copyright"
chmod 0644 "$doc/copyright"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: $package
Version: $version
Architecture: $arch
Maintainer: docker-proxy maintainers <maintainers@docker-proxy.invalid>
Installed-Size: $size
Depends: libc6 (>= 2.31)
Section: net
Priority: optional
Description: drop-in replacement for Docker's userland proxy
 A native executable with the same flags, status protocol, signals and exit
 codes as Docker's docker-proxy, installed where the engine looks for it
 (/usr/libexec/docker). Also runs by hand or as a systemd unit per mapping
 (docker-proxy@.service, Type=notify, with socket activation), with an
 opt-in graceful drain and a Prometheus metrics endpoint.
CONTROL

# systemd picks up new units on its next reload; nothing is enabled or started.
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = "configure" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
POSTINST
chmod 0755 "$stage/DEBIAN/postinst"

deb="$out/${package}_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"

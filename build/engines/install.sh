#!/usr/bin/env bash
# Installs what the engine tests (tests/DockerProxy.EngineTests) need, idempotently, as root:
#   - Debian 12's docker.io (dockerd 20.10 with containerd, runc, tini/docker-init) with every
#     boot service blocked while installing and left disabled afterwards: the tests start
#     private engines of their own and nothing else may run;
#   - busybox-static (the tests' image), iproute2 (their bridges), python3 (the containers run
#     the host's python3 through a read-only bind mount of /usr), strace (which process bound a
#     published port), util-linux (unshare, setsid, flock), procps;
#   - Docker's original docker-proxy and dockerd 20.10 and 28.5 (build/fetch-originals.sh).
# Prints nothing but errors; exits non-zero when something could not be installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export DEBIAN_FRONTEND=noninteractive

[ "$(id -u)" -eq 0 ] || { echo "engines/install.sh: must run as root" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "engines/install.sh: apt-get not found" >&2; exit 1; }

pkgs=(docker.io containerd runc tini iptables busybox-static iproute2 python3 procps strace util-linux)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done

if [ ${#need[@]} -gt 0 ]; then
  # Block service starts during the installation (invoke-rc.d and deb-systemd-invoke honour
  # policy-rc.d); an existing policy is kept as it is.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    own_policy=1
  fi
  restore() { [ -z "$own_policy" ] || rm -f "$policy"; }
  trap restore EXIT
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  restore
  trap - EXIT
fi

# Whatever the installation enabled, the host's docker and containerd must not start (now or at
# boot): the tests run private engines only. Only what this run installed is touched; a docker
# the host already had is left as it is.
if [ ${#need[@]} -gt 0 ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now docker.socket docker.service containerd.service >/dev/null 2>&1 || true
  else
    for svc in docker containerd; do
      [ -e "/etc/init.d/$svc" ] && command -v update-rc.d >/dev/null && update-rc.d -f "$svc" remove >/dev/null 2>&1 || true
    done
  fi
  for pidfile in /run/docker.pid /run/containerd/containerd.pid; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    case "$(cat "/proc/${pid:-0}/comm" 2>/dev/null || true)" in
      dockerd|containerd) kill "$pid" 2>/dev/null || true ;;
    esac
  done
fi

for tool in dockerd containerd containerd-shim-runc-v2 runc docker-init tini busybox ip python3 strace unshare setsid flock iptables-save; do
  PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$tool" >/dev/null ||
    { echo "engines/install.sh: $tool missing after the installation" >&2; exit 1; }
done

"$root/build/fetch-originals.sh" >/dev/null

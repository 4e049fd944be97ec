#!/usr/bin/env bash
# Runs one private Docker engine (containerd + dockerd) whose userland proxy is a given
# docker-proxy binary, for the engine tests (tests/DockerProxy.EngineTests) and by hand.
#
#   engine.sh run     NAME VERSION PROXY_PATH STATE_DIR [OWNER_PID]
#   engine.sh start   NAME VERSION PROXY_PATH STATE_DIR [OWNER_PID]
#   engine.sh stop    STATE_DIR
#   engine.sh restart STATE_DIR     (after dockerd died: start it again in the same engine)
#   engine.sh env     STATE_DIR     (prints the KEY=VALUE lines of a running engine)
#
# NAME      up to 11 letters/digits; names the bridge (dpe-NAME), containerd namespace, cgroups
# VERSION   20.10 or 28.5: dockerd is /usr/sbin/dockerd when it is 20.10 (Debian 12's docker.io),
#           else artifacts/originals/VERSION/dockerd (build/fetch-originals.sh); $DOCKERD overrides
# STATE_DIR an empty or absent directory that holds everything of the engine (short: socket
#           paths are limited to 108 bytes)
# OWNER_PID when that process is gone, the engine stops itself (the tests pass their own pid)
#
# `run` stays in the foreground until the engine is stopped; once dockerd answers it prints
# KEY=VALUE lines (DOCKER_HOST, DOCKERD_PID, BRIDGE, SUBNET, GATEWAY, IMAGE, ...) and READY.
# `start` does the same in the background and returns after READY (on a host whose init does not
# reap orphans, the engine's tini then stays a zombie once stopped: prefer `run &`). `stop` ends
# every process of the engine (found by ancestry and by the engine's socket in their argv, never by
# name), deletes its bridge, cgroups and STATE_DIR; it is idempotent and also cleans up after an
# interrupted run.
#
# The engine has:
#   - its own mount namespace, with tmpfs on /run, /etc/docker, STATE_DIR/data and
#     STATE_DIR/containerd: what containerd, runc and dockerd write or mount there (shim sockets,
#     runc state, 20.10's key.json, overlay mounts) stays private and vanishes with the engine,
#     and overlay2 works whatever file system holds STATE_DIR;
#   - its own bridge dpe-NAME with an unused 10.213.N.0/24 (.1 on the bridge);
#   - its own containerd (started here, so that it survives a kill -9 of dockerd as the packaged
#     service would), containerd namespace dpe-NAME and cgroup parent /dpe-NAME;
#   - dockerd with --iptables=false --ip-forward=false --ip-masq=false (and --ip6tables=false on
#     28.x): no NAT and no firewall rule, so every published port is served by the proxy;
#   - everything under `tini -s` (a subreaper), so that proxies orphaned by a killed dockerd are
#     reaped, and a guard that stops the engine when OWNER_PID is gone or after
#     $ENGINE_MAX_SECONDS (default 1800);
#   - the image dpe-tiny: busybox-static and build/engines/serve.py; run it with -v /usr:/usr:ro
#     (python3 comes from the host).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
self="$here/$(basename "$0")"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
MAX_SECONDS=${ENGINE_MAX_SECONDS:-1800} # an engine never outlives this, owner or not

die() { echo "engine.sh: $*" >&2; exit 1; }

state_of() { # STATE_DIR -> absolute path (must exist)
  [ -d "$1" ] || die "no state directory $1"
  (cd "$1" && pwd)
}

dockerd_for() { # VERSION
  if [ -n "${DOCKERD:-}" ]; then echo "$DOCKERD"; return; fi
  case "$1" in
    20.10)
      if /usr/sbin/dockerd --version 2>/dev/null | grep -q ' 20\.10\.'; then echo /usr/sbin/dockerd
      else echo "$root/artifacts/originals/20.10/dockerd"; fi ;;
    *) echo "$root/artifacts/originals/$1/dockerd" ;;
  esac
}

# Every descendant of the given pids, from /proc (they are all killed at once: no order needed).
descendants() {
  local -A kids=()
  local stat pid rest fields
  for stat in /proc/[0-9]*/stat; do
    { read -r pid rest < "$stat"; } 2>/dev/null || continue
    rest=${rest##*) }           # after "(comm) ": state ppid ...
    read -r -a fields <<<"$rest"
    kids[${fields[1]}]+=" $pid"
  done
  local queue=("$@") out=() p c
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for c in ${kids[$p]:-}; do out+=("$c"); queue+=("$c"); done
  done
  echo "${out[@]:-}"
}

alive() { # PID -> running and not a zombie
  local s
  s=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$s" ] && [ "$s" != Z ]
}

# The pid in FILE if that process is alive and its command line mentions STATE (no pid reuse).
owned_pid() { # FILE STATE
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -dc 0-9 < "$1")
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$2" || return 1
  echo "$pid"
}

wait_gone() { # SECONDS PID... -> 0 when all are gone (or zombies)
  local deadline=$(( $(date +%s) + $1 )); shift
  local p any
  while :; do
    any=
    for p in "$@"; do alive "$p" && any=1; done
    [ -z "$any" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

docker_cli() { # STATE args...
  DOCKER_HOST="unix://$1/docker.sock" DOCKER_CONFIG="$1/cli" /usr/bin/docker "${@:2}"
}

wait_ready() { # STATE SECONDS -> dockerd answers
  local state=$1 deadline=$(( $(date +%s) + $2 ))
  while ! docker_cli "$state" version --format '{{.Server.Version}}' >/dev/null 2>&1; do
    if [ -e "$state/supervisor.exit" ]; then
      tail -n 20 "$state/dockerd.log" >&2 2>/dev/null || true
      die "the engine in $state stopped while starting"
    fi
    if [ -s "$state/dockerd.run" ] && ! alive "$(cat "$state/dockerd.run")"; then
      tail -n 20 "$state/dockerd.log" >&2 2>/dev/null || true
      die "dockerd in $state exited while starting"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 20 "$state/dockerd.log" >&2 2>/dev/null || true
      die "dockerd in $state did not answer within $2 s"
    fi
    sleep 0.2
  done
}

print_env() { # STATE
  local state=$1 pid
  cat "$state/engine.env"
  pid=$(owned_pid "$state/dockerd.run" "$state") || pid=
  echo "DOCKERD_PID=$pid"
  echo "CONTAINERD_PID=$(owned_pid "$state/containerd.pid" "$state" || true)"
  echo "SUPERVISOR_PID=$(owned_pid "$state/supervisor.pid" "$state" || true)"
  echo "SERVER_VERSION=$(docker_cli "$state" version --format '{{.Server.Version}}' 2>/dev/null || true)"
}

close_fds() { # closes every fd above 2 of this shell, so that nothing leaks into dockerd
  local fd
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- preparation
prepare() { # NAME VERSION PROXY STATE OWNER
  local name=$1 version=$2 proxy=$3 state=$4 owner=$5
  [[ "$name" =~ ^[a-z0-9]{1,11}$ ]] || die "NAME must be 1-11 lowercase letters or digits"
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  [ -x "$proxy" ] || die "no proxy binary at $proxy"
  local dockerd; dockerd=$(dockerd_for "$version")
  [ -x "$dockerd" ] || die "no dockerd $version at $dockerd (run build/engines/install.sh)"
  for tool in containerd containerd-shim-runc-v2 runc docker-init tini busybox ip docker unshare setsid flock; do
    command -v "$tool" >/dev/null || die "$tool not found (run build/engines/install.sh)"
  done
  mkdir -p "$state"
  [ -z "$(ls -A "$state")" ] || die "state directory $state is not empty"
  state=$(state_of "$state")
  [ ${#state} -le 60 ] || die "state directory path too long for unix sockets: $state"

  # The proxy binary is copied: a rebuild of the original path while the engine runs must not
  # change what runs (dockerd starts a proxy per published port, at any time).
  mkdir -p "$state/bin" "$state/cli" "$state/data" "$state/exec" "$state/containerd"
  install -m 0755 "$proxy" "$state/bin/docker-proxy"

  # An unused private /24 and a bridge for it, chosen under a lock so that engines started at
  # the same time get different ones.
  local bridge="dpe-$name" subnet='' n
  ip link show "$bridge" >/dev/null 2>&1 && die "bridge $bridge exists: another engine named $name runs (or stop it)"
  exec 9<"$self"
  flock -w 30 9 || die "could not lock $self"
  local used; used=$(ip -4 route show; ip -4 addr show)
  for n in $(seq 0 255); do
    if ! grep -q "10\.213\.$n\." <<<"$used"; then subnet="10.213.$n"; break; fi
  done
  [ -n "$subnet" ] || die "no free 10.213.N.0/24"
  ip link add "$bridge" type bridge
  echo "$bridge" > "$state/bridge"
  ip addr add "$subnet.1/24" dev "$bridge"
  ip link set "$bridge" up
  exec 9<&-

  cat > "$state/daemon.json" <<<'{}'
  cat > "$state/containerd.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$state/containerd.sock"
[ttrpc]
  address = "$state/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
EOF

  local args=(
    --data-root "$state/data" --exec-root "$state/exec" --pidfile "$state/dockerd.pid"
    -H "unix://$state/docker.sock" --config-file "$state/daemon.json"
    --containerd "$state/containerd.sock" --containerd-namespace "dpe-$name"
    --containerd-plugins-namespace "dpe-$name-plugins" --cgroup-parent "/dpe-$name"
    --bridge "$bridge" --iptables=false --ip-forward=false --ip-masq=false
    --userland-proxy=true --userland-proxy-path "$state/bin/docker-proxy"
    --storage-driver overlay2 --log-level info)
  case "$version" in 20.*) ;; *) args+=(--ip6tables=false) ;; esac
  printf '%s\n' "$dockerd" "${args[@]}" > "$state/dockerd.args"

  cat > "$state/engine.env" <<EOF
ENGINE_NAME=$name
ENGINE_VERSION=$version
STATE_DIR=$state
DOCKER_HOST=unix://$state/docker.sock
DOCKER_CONFIG=$state/cli
DOCKERD=$dockerd
PROXY_PATH=$state/bin/docker-proxy
PROXY_SOURCE=$proxy
BRIDGE=$bridge
SUBNET=$subnet.0/24
GATEWAY=$subnet.1
CGROUP_PARENT=/dpe-$name
CONTAINERD_NAMESPACE=dpe-$name
IMAGE=dpe-tiny
EOF
  echo "${owner:-0}" > "$state/owner"
  date +%s > "$state/started"
}

# The test image: busybox-static and a python3 server script (python3 itself comes from the
# host through a read-only bind mount of /usr, so the image links /lib and /lib64 into /usr).
import_image() { # STATE
  local state=$1 rootfs="$1/image"
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/srv/www" "$rootfs/usr" "$rootfs/tmp" \
           "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
  install -m 0755 "$(command -v busybox)" "$rootfs/bin/busybox"
  ln -s busybox "$rootfs/bin/sh"
  ln -s usr/lib "$rootfs/lib"
  ln -s usr/lib64 "$rootfs/lib64"
  install -m 0644 "$here/serve.py" "$rootfs/srv/serve.py"
  echo "hello from dpe-tiny" > "$rootfs/srv/www/index.html"
  head -c 1048576 /dev/zero | tr '\0' 'x' > "$rootfs/srv/www/big.txt"
  tar -C "$rootfs" -c . | docker_cli "$state" import -c 'CMD ["/usr/bin/python3", "/srv/serve.py"]' - dpe-tiny >/dev/null
  rm -rf "$rootfs"
}

# ---------------------------------------------------------------- supervision
# Runs as `tini -s -- engine.sh supervise STATE`: containerd, then dockerd (again after each
# `restart` request, at most 10 times), and a guard that stops the engine when its owner dies.
supervise() { # STATE
  local state=$1
  close_fds
  echo $$ > "$state/supervisor.pid"
  exec </dev/null >>"$state/supervisor.log" 2>&1
  # This runs in a mount namespace of its own (unshare in launch): whatever the engine mounts
  # goes away with its last process, and what it writes to /run (containerd's shim sockets and
  # runc state) and to /etc/docker (20.10's key.json) stays private to the engine.
  mount -n -t tmpfs -o mode=0755,size=64m dpe-run /run
  [ -d /etc/docker ] && mount -n -t tmpfs -o mode=0755,size=1m dpe-etc /etc/docker
  # Images, containers and containerd's content on tmpfs as well: overlay2 then works whatever
  # the file system of STATE_DIR is (an overlay, in a container), and it all vanishes with us.
  mount -n -t tmpfs -o mode=0710,size=1g dpe-data "$state/data"
  mount -n -t tmpfs -o mode=0711,size=1g dpe-containerd "$state/containerd"

  local owner started
  owner=$(cat "$state/owner"); started=$(cat "$state/started")
  ( # guard: bounded by the engine's lifetime
    while :; do
      [ -e "$state/stop" ] && exit 0
      if [ "$owner" != 0 ] && ! alive "$owner"; then echo "guard: owner $owner gone"; break; fi
      if [ $(( $(date +%s) - started )) -ge "$MAX_SECONDS" ]; then echo "guard: lifetime over"; break; fi
      sleep 1
    done
    "$self" stop "$state" >/dev/null 2>&1 || true
  ) &

  containerd --config "$state/containerd.toml" </dev/null >>"$state/containerd.log" 2>&1 &
  echo $! > "$state/containerd.pid"
  local i
  for i in $(seq 1 300); do [ -S "$state/containerd.sock" ] && break; sleep 0.1; done

  local -a cmd; mapfile -t cmd < "$state/dockerd.args"
  local run pid
  for run in $(seq 1 10); do
    [ -e "$state/stop" ] && break
    rm -f "$state/dockerd.pid" "$state/dockerd.run" "$state/restart"
    echo "supervise: dockerd run $run"
    "${cmd[@]}" </dev/null >>"$state/dockerd.log" 2>&1 &
    pid=$!
    echo "$pid" > "$state/dockerd.run"   # dockerd writes --pidfile itself, a moment later
    wait "$pid" || echo "supervise: dockerd exited with $?"
    # Wait (bounded) for a restart or stop request.
    for i in $(seq 1 3000); do
      [ -e "$state/stop" ] || [ -e "$state/restart" ] && break
      sleep 0.2
    done
    [ -e "$state/restart" ] || break
  done
  touch "$state/stop"
  local c; c=$(cat "$state/containerd.pid")
  kill -TERM "$c" 2>/dev/null || true
  wait_gone 10 "$c" || kill -KILL "$c" 2>/dev/null || true
  wait 2>/dev/null || true
  touch "$state/supervisor.exit"
}

launch() { # NAME VERSION PROXY STATE OWNER -> supervisor in the background, waits until ready
  # Whatever fails on the way, nothing of the half-started engine stays.
  launching=$4
  trap '[ -e "$launching/bridge" ] && "$self" stop "$launching" >/dev/null 2>&1' EXIT
  prepare "$@"
  local state; state=$(state_of "$4")
  (
    close_fds
    exec setsid unshare --mount --propagation private -- tini -s -- "$self" supervise "$state" </dev/null >/dev/null 2>>"$state/supervisor.log"
  ) &
  echo $! > "$state/tini.pid"
  wait_ready "$state" 120
  import_image "$state"
  trap - EXIT
}

# ---------------------------------------------------------------- stop
stop() { # STATE
  local state=$1
  [ -d "$state" ] || return 0
  state=$(state_of "$state")
  if [ ! -e "$state/engine.env" ] && [ ! -e "$state/bridge" ] && [ ! -e "$state/owner" ]; then
    rmdir "$state" 2>/dev/null && return 0   # empty: an engine that never got that far
    die "$state does not look like an engine state directory"
  fi
  touch "$state/stop"

  # dockerd first, gracefully (it stops its proxies and containers), then everything else.
  local pid
  if pid=$(owned_pid "$state/dockerd.run" "$state"); then
    docker_cli "$state" ps -aq 2>/dev/null | head -n 100 | xargs -r timeout 20 env \
      DOCKER_HOST="unix://$state/docker.sock" DOCKER_CONFIG="$state/cli" /usr/bin/docker rm -f >/dev/null 2>&1 || true
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 15 "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  # Every other process of the engine: the descendants of tini (containerd, shims, containers,
  # orphaned proxies; tini reaps them) and any shim of this engine's containerd that escaped.
  # The supervisor and tini exit by themselves once dockerd is gone; never this process or an
  # ancestor of it (the guard calls stop).
  local tini sup roots=() p f
  tini=$(owned_pid "$state/tini.pid" "$state" || true)
  sup=$(owned_pid "$state/supervisor.pid" "$state" || true)
  for f in containerd.pid dockerd.run; do
    p=$(owned_pid "$state/$f" "$state") && roots+=("$p")
  done
  for p in $(grep -lsF "$state/containerd.sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    roots+=("$p")
  done
  local -A ancestors=() ; p=$$
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    ancestors[$p]=1
    p=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
  done
  local victims=() v
  for v in ${roots[@]+"${roots[@]}"} $(descendants $tini ${roots[@]+"${roots[@]}"}); do
    [ -z "${ancestors[$v]:-}" ] && [ "$v" != "$tini" ] && [ "$v" != "$sup" ] && victims+=("$v")
  done
  if [ ${#victims[@]} -gt 0 ]; then
    kill -KILL "${victims[@]}" 2>/dev/null || true
    wait_gone 10 "${victims[@]}" || echo "engine.sh: processes still alive: ${victims[*]}" >&2
  fi
  # The supervisor (and so tini) ends once dockerd is gone and the stop file is there; unless
  # this stop runs inside it (from the guard).
  if [ -n "$tini" ] && [ -z "${ancestors[$tini]:-}" ]; then
    wait_gone 10 "$tini" || kill -KILL "$tini" ${sup:+"$sup"} 2>/dev/null || true
  fi

  # Mounts under the state directory (overlay, netns, shm), deepest first.
  local m i
  for i in 1 2 3; do
    mapfile -t m < <(awk -v s="$state" '$5 == s || index($5, s "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
    [ ${#m[@]} -eq 0 ] && break
    for p in "${m[@]}"; do umount -n -l "$p" 2>/dev/null || true; done
  done

  # The bridge (and any veth still attached to it).
  local bridge; bridge=$(cat "$state/bridge" 2>/dev/null || true)
  if [ -n "$bridge" ] && ip link show "$bridge" >/dev/null 2>&1; then
    for v in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip link del "$v" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
  fi

  # cgroups (--cgroup-parent /dpe-NAME).
  local name=${bridge#dpe-}
  if [ -n "$name" ]; then
    for p in /sys/fs/cgroup/*/"dpe-$name" /sys/fs/cgroup/"dpe-$name"; do
      [ -d "$p" ] || continue
      find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  fi

  # Last the state directory (its tmpfs mounts live in the engine's own mount namespace, gone
  # with its processes; when the guard runs this, inside that namespace, they were unmounted above).
  rm -rf --one-file-system "$state" 2>/dev/null || { sleep 1; rm -rf --one-file-system "$state"; }
}

# ---------------------------------------------------------------- commands
cmd=${1:-}; shift || true
case "$cmd" in
  run)
    [ $# -ge 4 ] || die "usage: engine.sh run NAME VERSION PROXY_PATH STATE_DIR [OWNER_PID]"
    owner=${5:-0}
    launch "$1" "$2" "$3" "$4" "$owner"
    state=$(state_of "$4")
    print_env "$state"
    echo READY
    # Stay until the engine is stopped (bounded by its lifetime), then reap the supervisor.
    tini_pid=$(cat "$state/tini.pid")
    wait "$tini_pid" 2>/dev/null || true
    ;;
  start)
    [ $# -ge 4 ] || die "usage: engine.sh start NAME VERSION PROXY_PATH STATE_DIR [OWNER_PID]"
    launch "$1" "$2" "$3" "$4" "${5:-0}"
    print_env "$(state_of "$4")"
    echo READY
    ;;
  supervise) supervise "$(state_of "$1")" ;;
  restart)
    state=$(state_of "${1:?usage: engine.sh restart STATE_DIR}")
    owned_pid "$state/dockerd.run" "$state" >/dev/null && die "dockerd still runs"
    touch "$state/restart"
    # The supervisor writes the new pid; wait for it, then for dockerd to answer.
    for i in $(seq 1 100); do [ -e "$state/restart" ] || break; sleep 0.1; done
    wait_ready "$state" 120
    print_env "$state"
    echo READY
    ;;
  env) print_env "$(state_of "${1:?usage: engine.sh env STATE_DIR}")" ;;
  stop) stop "${1:?usage: engine.sh stop STATE_DIR}" ;;
  *) die "usage: engine.sh run|start|stop|restart|env ..." ;;
esac

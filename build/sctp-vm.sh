#!/usr/bin/env bash
# Runs a command inside a small virtual machine whose kernel has SCTP, for the SCTP tests: the
# kernels this project is built and tested on have no SCTP, and Debian 12's own kernel does.
#
#   build/sctp-vm.sh [--timeout SECONDS] COMMAND [ARG...]
#   build/sctp-vm.sh --prepare        (install and unpack what a run needs, boot nothing)
#
# The guest is Debian 12's kernel (linux-image-amd64, downloaded and unpacked, never installed)
# booted by qemu-system-x86 under software emulation (-accel tcg) with one vCPU, no network
# device (loopback only), and this machine's own root filesystem shared read-only over
# virtio-9p with a tmpfs overlay on top: every path, the repository included, is where it is on
# the host, and writes inside the guest are thrown away. COMMAND runs with bash in the current
# directory and the caller's environment; its output is printed as it comes, and the script
# exits with its status. 124 when the run exceeds the timeout (default 600 s, or
# SCTP_VM_TIMEOUT), 125 when the guest could not be prepared or did not run the command.
#
# Emulation makes CPU-heavy work 10-30x slower: build on the host, run only finished binaries
# (NativeAOT, Go, python3) inside, and do everything in one run (booting takes a few seconds).
#
# Installs qemu-system-x86 and busybox-static with apt when they are missing (as root), and keeps
# the kernel, its modules and the initramfs under artifacts/sctp-vm/ between runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=$root/artifacts/sctp-vm
limit=${SCTP_VM_TIMEOUT:-600}

prepare_only=
case "${1:-}" in
  --timeout) limit=${2:?--timeout needs a number of seconds}; shift 2 ;;
  --prepare) prepare_only=1; shift ;;
esac
[ $# -gt 0 ] || [ -n "$prepare_only" ] ||
  { echo "usage: build/sctp-vm.sh [--timeout SECONDS] COMMAND [ARG...] | --prepare" >&2; exit 2; }

say() { echo "sctp-vm: $*" >&2; }
die() { say "$*"; exit 125; }

# Temporary directories and the guest, removed and stopped however the script ends.
scratch=()
qemu_pid=
cleanup() {
  [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
  [ ${#scratch[@]} -eq 0 ] || rm -rf "${scratch[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what the host needs -------------------------------------------------------------------
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "$* not installed, and only root can install it (apt-get install $*)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } ||
    die "apt-get install $* failed"
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# The static busybox is the initramfs' only program; the dynamic one would need its libraries.
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

# --- the kernel: Debian 12's, unpacked once ---------------------------------------------------
# The modules the guest loads, by name; their dependencies are found from each module's own
# "depends=" field. crc32c_generic first: libcrc32c (which SCTP needs) asks the crypto API for
# crc32c, which it would otherwise request from a modprobe the initramfs does not have.
wanted=(virtio_pci 9pnet_virtio 9p overlay crc32c_generic sctp)

kernel_dir() { # newest prepared kernel, if any
  local d
  for d in $(ls -d "$cache"/linux-image-* 2>/dev/null | sort -V -r); do
    [ -f "$d/ready" ] && { echo "$d"; return 0; }
  done
  return 1
}

prepare_kernel() {
  local pkg work deb tree kver
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || die "apt knows no linux-image-amd64 (is this Debian, with its package lists?)"
  say "preparing $pkg (downloaded and unpacked, not installed)"
  work=$(mktemp -d)
  scratch+=("$work")
  (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
  deb=$(ls "$work"/*.deb)
  tree=$work/tree
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --one-top-level=tree ./boot ./lib/modules ||
    die "cannot unpack $deb"
  kver=$(ls "$tree/lib/modules")
  local out=$cache/$pkg
  rm -rf "$out"
  mkdir -p "$out/modules"
  cp "$tree/boot/vmlinuz-$kver" "$out/vmlinuz"

  # Resolve each wanted module and its dependencies, dependencies first.
  declare -A path_of=() done_=()
  local ko name
  while IFS= read -r ko; do
    name=$(basename "$ko" .ko)
    path_of[${name//-/_}]=$ko
  done < <(cd "$tree/lib/modules/$kver" && find kernel -name '*.ko')
  : >"$out/modules.order"
  add_module() {
    local m=${1//-/_} dep deps
    [ -n "${done_[$m]:-}" ] && return 0
    [ -n "${path_of[$m]:-}" ] || die "module $m not in $pkg"
    done_[$m]=1
    deps=$(tr '\0' '\n' <"$tree/lib/modules/$kver/${path_of[$m]}" | sed -n 's/^depends=//p' | head -1)
    for dep in ${deps//,/ }; do add_module "$dep"; done
    cp "$tree/lib/modules/$kver/${path_of[$m]}" "$out/modules/$m.ko"
    echo "$m.ko" >>"$out/modules.order"
  }
  local m
  for m in "${wanted[@]}"; do add_module "$m"; done
  echo "$kver" >"$out/release"
  touch "$out/ready"
}

kdir=$(kernel_dir) || { prepare_kernel; kdir=$(kernel_dir) || die "kernel preparation failed"; }

# --- the initramfs: busybox, the modules, /init; rebuilt when any of them changes --------------
initramfs=$kdir/initramfs.img
stamp=$(cat /bin/busybox "$root/build/sctp-vm/init" "$kdir/modules.order" | sha256sum | cut -c1-16)
if [ "$(cat "$kdir/initramfs.stamp" 2>/dev/null)" != "$stamp" ]; then
  staging=$(mktemp -d)
  scratch+=("$staging")
  mkdir -p "$staging"/{bin,dev,proc,sys,lib/modules}
  cp /bin/busybox "$staging/bin/busybox"
  install -m 0755 "$root/build/sctp-vm/init" "$staging/init"
  cp "$kdir"/modules/*.ko "$staging/lib/modules/"
  cp "$kdir/modules.order" "$staging/modules.order"
  (cd "$staging" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$initramfs.tmp"
  rm -rf "$staging"
  mv "$initramfs.tmp" "$initramfs"
  echo "$stamp" >"$kdir/initramfs.stamp"
fi

[ -z "$prepare_only" ] || exit 0

# --- the run ---------------------------------------------------------------------------------
xfer=$(mktemp -d /tmp/sctp-vm.XXXXXX)
scratch+=("$xfer")

# The command, its directory and the caller's environment, replayed by bash inside the guest.
env -0 >"$xfer/env"
{
  echo 'while IFS= read -r -d "" kv; do export "$kv" 2>/dev/null || true; done <"$(dirname "$0")/env"'
  printf 'cd %q || exit 125\n' "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$xfer/command"

start=$(date +%s.%N)
# -cpu max: NativeAOT code needs x86-64-v2 instructions the default qemu64 model lacks.
timeout -k 5 "$limit" qemu-system-x86_64 \
  -accel tcg -cpu max -smp 1 -m 1536 -machine pc \
  -nodefaults -no-user-config -display none -vga none -nic none -no-reboot \
  -chardev stdio,id=console,signal=off -serial chardev:console \
  -kernel "$kdir/vmlinuz" -initrd "$initramfs" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off sctpvm.xfer=$xfer" \
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev local,id=xfer,path="$xfer",security_model=none,multidevs=remap \
  -device virtio-9p-pci,fsdev=xfer,mount_tag=xfer \
  </dev/null &
qemu_pid=$!
set +e
wait "$qemu_pid"
qemu_status=$?
set -e
qemu_pid=
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

if [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ]; then
  say "timed out after ${limit} s"
  exit 124
fi
if [ ! -s "$xfer/status" ]; then
  die "the guest ended without running the command (qemu status $qemu_status, ${elapsed} s)"
fi
status=$(cat "$xfer/status")
say "guest run: ${elapsed} s, command status $status"
exit "$status"

#!/usr/bin/env bash
# Make sure this host can run arm64 binaries (qemu-user-static through binfmt_misc), or say in
# one line why not and exit non-zero. Installs the Debian packages it needs when run as root.
set -euo pipefail

die() { echo "pi-host: cannot emulate a Raspberry Pi here: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "needs Linux (binfmt_misc), this is $(uname -s)"
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, binfmt_misc); run as root"

need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install them"
    echo "pi-host: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"; } \
        >/dev/null || die "apt-get install ${need[*]} failed"
fi

binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null \
        || die "binfmt_misc is not mounted and cannot be (container without the privilege?)"
fi
if ! grep -qx enabled "$binfmt/qemu-aarch64" 2>/dev/null; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 \
        || die "update-binfmts --enable qemu-aarch64 failed"
fi
grep -qx enabled "$binfmt/qemu-aarch64" 2>/dev/null || die "the qemu-aarch64 handler is disabled"
# F (fix binary): the kernel opens the interpreter now, so the chroot needs no copy of qemu.
grep -q '^flags:.*F' "$binfmt/qemu-aarch64" \
    || die "the qemu-aarch64 handler lacks the F flag (needs qemu-user-static, not qemu-user)"

#!/usr/bin/env bash
# Run one command inside the emulated Raspberry Pi root filesystem, as a Pi 4 would:
#   deploy/pi-chroot.sh ROOT COMMAND [ARG...]
# A clean environment (env -i) keeps the host's PIP_*, PYTHON* and proxy variables out;
# QEMU_CPU picks a Pi-like CPU (PI_QEMU_CPU=cortex-a76 for a Pi 5).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ROOT COMMAND [ARG...]" >&2; exit 2; }
root=$1
shift
[ -x "$root/usr/bin/env" ] || { echo "pi-chroot: $root is not a root filesystem" >&2; exit 1; }
exec env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb \
    QEMU_CPU="${PI_QEMU_CPU:-cortex-a72}" \
    chroot "$root" "$@"

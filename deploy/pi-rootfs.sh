#!/usr/bin/env bash
# Build, or reuse from a cache outside the checkout, a Raspberry Pi OS-like root filesystem:
# Debian arm64 (minbase) of the release Raspberry Pi OS is based on, with the Debian packages
# that release's Pi OS ships (PACKAGES below). Prints the root's path on stdout; progress goes
# to stderr.
#
#   deploy/pi-rootfs.sh [SUITE]   # trixie (Pi OS 6: Python 3.13, NumPy 2.2, OpenCV 4.10) or
#                                 # bookworm (Pi OS 5: Python 3.11, NumPy 1.24, OpenCV 4.6; default)
#   deploy/pi-rootfs.sh SUITE...  # several at once (one path per line, in that order): each
#                                 # build is mostly one single-threaded dpkg under qemu
#
#   PI_ROOTFS_CACHE  cache folder (default /var/cache/digit-edge/pi-rootfs)
#   PI_MIRROR        Debian archive to use (default: the one the host's apt sources name)
#
# The cache key is a hash of everything that decides the tree's content, so a changed package
# list builds a new tree beside the old one. A build goes to a temporary folder and is renamed
# into place when complete; /proc and /dev are mounted only for the apt step, unmounted on any
# exit, and a tree is never deleted while anything is mounted inside it.
set -euo pipefail

ARCH=arm64
VARIANT=minbase
FORMAT=1 # bump when the build steps below change what ends up in the tree
# The Debian packages of the emulated Pi, one list per release: add a package the product
# needs on the Pi to each release's list (a changed list builds a new cached tree).
# python3-venv/-pip: the install script's venv; systemd: systemd-analyze verify of the unit.
# python3-paho-mqtt: `--mqtt` (Debian's 1.6.1 on bookworm, 2.1 on trixie); python3-aiohttp:
# serve; GStreamer's base/good plugins: pi-test's `camera --source` pipeline.
declare -A PACKAGES=(
    [bookworm]="python3 python3-venv python3-pip python3-numpy python3-opencv systemd python3-paho-mqtt python3-aiohttp gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
    [trixie]="python3 python3-venv python3-pip python3-numpy python3-opencv systemd python3-paho-mqtt python3-aiohttp gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
)

# All in one function: bash parses it whole, so editing this file mid-build is harmless.
main() {
    here=$(cd "$(dirname "$0")" && pwd)
    cache=${PI_ROOTFS_CACHE:-/var/cache/digit-edge/pi-rootfs}
    SUITE=${1:-bookworm}
    log() { echo "pi-rootfs $SUITE: $*" >&2; }
    die() { log "$*"; exit 1; }

    # Several releases: one child per release, all at once; their roots in the order asked.
    build_all() {
        local s pids=() roots failed=0 i
        roots=$(mktemp -d)
        for s in "$@"; do
            "$0" "$s" >"$roots/$s" &
            pids+=($!)
        done
        for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed=1; done
        [ "$failed" = 0 ] && for s in "$@"; do cat "$roots/$s"; done
        rm -rf "$roots"
        return "$failed"
    }
    for s in "$@"; do
        [ -n "${PACKAGES[$s]:-}" ] || die "unknown release $s (known: ${!PACKAGES[*]})"
    done
    packages=${PACKAGES[$SUITE]}
    "$here/pi-host.sh"
    if [ $# -gt 1 ]; then
        build_all "$@"
        exit
    fi

    key=$(printf '%s\n' "$FORMAT" "$SUITE" "$ARCH" "$VARIANT" "$packages" | sha256sum | cut -c1-12)
    dest="$cache/$SUITE-$ARCH-$key"
    marker=.digit-edge-rootfs

    if [ -f "$dest/$marker" ]; then
        log "reusing $dest"
        echo "$dest"
        exit 0
    fi

    # The archive the host's apt already uses: the first non-security Debian source.
    mirror_from_host() {
        local f
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            # deb822 stanzas: the URIs of the first one whose Suites name a Debian release.
            awk 'function ok() { return u != "" && s ~ /bookworm|trixie|bullseye|sid/ && u !~ /security/ }
                 tolower($1) == "uris:" { u = $2 }
                 tolower($1) == "suites:" { s = $0 }
                 /^[[:space:]]*$/ { if (ok()) { print u; done = 1; exit } u = ""; s = "" }
                 END { if (!done && ok()) print u }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' "$f"
        done
    }
    mirror=${PI_MIRROR:-$(mirror_from_host | sed -n 1p)}
    [ -n "$mirror" ] || die "no Debian mirror in the host's apt sources; set PI_MIRROR"

    mkdir -p "$cache"
    exec 9>"$cache/.lock-$SUITE"
    flock 9 # one build of a release at a time; a second caller waits, then reuses
    if [ -f "$dest/$marker" ]; then
        log "reusing $dest (built by a concurrent run)"
        echo "$dest"
        exit 0
    fi

    mounted_under() { awk -v p="$1/" 'index($2, p) == 1 {print $2}' /proc/mounts; }
    unmount_all() {
        local m
        for m in $(mounted_under "$1" | sort -r); do umount "$m" || umount -l "$m" || true; done
    }
    safe_remove() {
        unmount_all "$1"
        if [ -n "$(mounted_under "$1")" ]; then
            log "not deleting $1: still mounted: $(mounted_under "$1" | tr '\n' ' ')"
            return 1
        fi
        rm -rf --one-file-system "$1"
    }

    # Leftovers of an interrupted build.
    for old in "$cache"/.build-"$SUITE".*; do
        if [ -d "$old" ]; then
            log "removing stale $old"
            safe_remove "$old"
        fi
        rm -f "$old"
    done

    tmp=$(mktemp -d "$cache/.build-$SUITE.XXXXXX")
    chmod 755 "$tmp" # it becomes the Pi's /
    cleanup() {
        unmount_all "$tmp"
        rm -f "$tmp.debootstrap.log"
        if [ -d "$tmp" ]; then safe_remove "$tmp"; fi
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    start=$(date +%s)
    log "building $SUITE $ARCH ($VARIANT) from $mirror into $dest (a few minutes, once)"
    debootstrap --arch="$ARCH" --variant="$VARIANT" "$SUITE" "$tmp" "$mirror" >"$tmp.debootstrap.log" 2>&1 \
        || { tail -n 20 "$tmp.debootstrap.log" >&2; die "debootstrap failed (log above)"; }
    rm -f "$tmp.debootstrap.log"
    log "debootstrap done in $(( $(date +%s) - start )) s; installing $packages"

    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    # While building only: no fsync per file (a crash loses the build, which is retried anyway).
    echo force-unsafe-io >"$tmp/etc/dpkg/dpkg.cfg.d/digit-edge-build"
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d" # start no services in the chroot
    chmod +x "$tmp/usr/sbin/policy-rc.d"
    mount -t proc proc "$tmp/proc"
    mount --bind /dev "$tmp/dev"
    apt_log=$(mktemp)
    if ! "$here/pi-chroot.sh" "$tmp" sh -c "
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q &&
            apt-get install -y -q --no-install-recommends $packages &&
            apt-get clean" >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "apt-get install in the arm64 chroot failed (log above)"
    fi
    rm -f "$apt_log"
    umount "$tmp/dev"
    umount "$tmp/proc"
    rm -f "$tmp/usr/sbin/policy-rc.d" "$tmp/etc/dpkg/dpkg.cfg.d/digit-edge-build"
    rm -rf "$tmp/var/lib/apt/lists/"*

    "$here/pi-chroot.sh" "$tmp" python3 -c 'import cv2, numpy' \
        || die "the new root cannot import cv2 and numpy"
    printf 'suite=%s arch=%s variant=%s key=%s built=%s seconds=%s\npackages=%s\n' \
        "$SUITE" "$ARCH" "$VARIANT" "$key" "$(date -u +%FT%TZ)" "$(( $(date +%s) - start ))" \
        "$packages" >"$tmp/$marker"
    [ -z "$(mounted_under "$tmp")" ] || die "something is still mounted under $tmp"
    mv -T "$tmp" "$dest"
    trap - EXIT
    log "built $dest in $(( $(date +%s) - start )) s ($(du -sh --one-file-system "$dest" | cut -f1))"
    echo "$dest"
}

main "$@"

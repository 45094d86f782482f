#!/usr/bin/env bash
# Install (or update) digit-edge on a Raspberry Pi, from the unpacked bundle this script sits
# in. Raspberry Pi OS trixie 64-bit (Python 3.13) gets ai-edge-litert; bookworm 64- or 32-bit
# (Python 3.11) gets tflite-runtime 2.14. Safe to run again: a second run changes nothing that
# the first one set up, and keeps your /etc/default/digit-edge.
#
#   sudo ./install.sh             # online: apt for Debian's NumPy/OpenCV, pip for the interpreter
#   sudo ./install.sh --offline   # no network: the wheels in ./wheels (and --wheels DIR) only
#
# NumPy and OpenCV are Debian's (python3-numpy, python3-opencv); the venv sees them through
# --system-site-packages and pip installs only the interpreter, click and the edge wheel, each
# with --no-deps, so nothing from PyPI replaces Debian's builds.
set -euo pipefail

PREFIX=/opt/digit-edge # fixed: digit-edge.service and digit-edge.default name it
OFFLINE=0
ENABLE=0
EXTRA_WHEELS=()
DEBS=(python3-venv python3-numpy python3-opencv python3-paho-mqtt python3-aiohttp) # paho: `--mqtt`; aiohttp: serve
# The camera module (picamera2, for --source picamera2/auto) and libcamera's GStreamer element
# (libcamerasrc pipelines): installed where the system has them (Raspberry Pi OS; Debian has no
# python3-picamera2), never fatal.
CAMERA_DEBS=(python3-picamera2 gstreamer1.0-libcamera)

say() { echo "install: $*"; }
die() { echo "install: error: $*" >&2; exit 1; }
usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
    echo "options: --offline  --wheels DIR (repeatable)  --enable (enable and start the service now)"
}

while [ $# -gt 0 ]; do
    case $1 in
        --offline) OFFLINE=1 ;;
        --enable) ENABLE=1 ;;
        --wheels) [ $# -ge 2 ] || die "--wheels needs a folder"; EXTRA_WHEELS+=("$2"); shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option $1 (try --help)" ;;
    esac
    shift
done

here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || die "run as root: sudo $0"
[ -f "$here/SHA256SUMS" ] || die "run this from the unpacked bundle (no SHA256SUMS beside it)"
(cd "$here" && sha256sum --quiet --strict -c SHA256SUMS) || die "the bundle is damaged (SHA256SUMS)"
version=$(cat "$here/VERSION")

# 1. Debian's Python decides the interpreter; then Debian's NumPy and OpenCV.
command -v python3 >/dev/null || die "python3 is missing: sudo apt install python3"
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# The interpreter that has wheels for this Python and this userland (a 32-bit Raspberry Pi OS
# runs armhf on a 64-bit kernel, so ask dpkg, not uname); pi-requirements.txt pins its version.
arch=$(dpkg --print-architecture)
release=$(. /etc/os-release && echo "${ID:-linux} ${VERSION_CODENAME:-}")
# A Pi Zero, Zero W or Pi 1 (ARMv6) runs armhf too, but no interpreter has an ARMv6 wheel.
[ "$(uname -m)" != armv6l ] || die "this is an ARMv6 board (Pi Zero, Zero W or Pi 1): no TFLite" \
    "interpreter is built for it; use a Pi Zero 2 W, Pi 2 or later"
case "$pyver/$arch" in
    3.13/arm64) runtime=ai-edge-litert module=ai_edge_litert ;;
    3.11/arm64 | 3.11/armhf) runtime=tflite-runtime module=tflite_runtime ;;
    3.13/armhf) die "no TFLite interpreter exists for 32-bit $release (Python 3.13 on armhf):" \
        "install Raspberry Pi OS (64-bit), or Raspberry Pi OS (Legacy, 32-bit) bookworm" ;;
    *) die "no supported interpreter for $release, Python $pyver on $arch:" \
        "use Raspberry Pi OS trixie 64-bit or bookworm (64- or 32-bit)" ;;
esac
say "$release, Python $pyver, $arch: $runtime"
# A fresh desktop image's package updater may hold apt's lock for a while: wait, not fail.
apt_wait=(-o DPkg::Lock::Timeout=300)
updated=0
missing=()
for deb in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$deb")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$OFFLINE" = 1 ]; then
        die "offline install needs these Debian packages first: sudo apt install ${missing[*]}"
    fi
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get "${apt_wait[@]}" update -q
    updated=1
    apt-get "${apt_wait[@]}" install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. The venv, seeing Debian's packages. Recreated only if missing or not of this Python.
venv=$PREFIX/venv
if [ -x "$venv/bin/python" ] && grep -qx 'include-system-site-packages = true' "$venv/pyvenv.cfg" \
    && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$pyver" ]; then
    say "venv $venv exists"
else
    say "creating venv $venv (--system-site-packages)"
    rm -rf "$venv"
    mkdir -p "$PREFIX"
    python3 -m venv --system-site-packages "$venv"
fi

# 3. The interpreter, click and the edge package: --no-deps, so pip never fetches NumPy/OpenCV.
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input install --no-deps --quiet)
links=(--find-links "$here/wheels")
for w in "${EXTRA_WHEELS[@]}"; do links+=(--find-links "$w"); done
if [ "$OFFLINE" = 1 ]; then links+=(--no-index); fi
say "pip install -r pi-requirements.txt ($runtime for Python $pyver)$([ "$OFFLINE" = 1 ] && echo ', offline')"
"${pip[@]}" "${links[@]}" -r "$here/pi-requirements.txt" \
    || die "pip could not install $runtime$([ "$OFFLINE" = 1 ] && echo " from the shipped wheels (no wheel for Python $pyver on $arch?)")"
edge_wheel=$(ls "$here"/wheels/digit_edge-*.whl)
say "pip install $(basename "$edge_wheel")"
"${pip[@]}" --force-reinstall "$edge_wheel" # same version, new code on an update

"$venv/bin/python" - "$runtime" "$module" <<'PY' || die "the installed runtime does not work (message above)"
import importlib, importlib.metadata, sys, cv2, numpy, edge
runtime, module = sys.argv[1:]
for mod in (numpy, cv2):
    if not mod.__file__.startswith("/usr/lib/python3/dist-packages/"):
        raise SystemExit(f"{mod.__name__} comes from {mod.__file__}, not from Debian's package")
importlib.import_module(module + ".interpreter")  # loads the native library
print(f"install: numpy {numpy.__version__}, opencv {cv2.__version__} (Debian), "
      f"{runtime} {importlib.metadata.version(runtime)}, digit-edge {edge.__version__}")
PY

# 4. The camera packages, where this system has them: before the service starts, so that
#    its default camera (auto) finds the camera module on the first start.
for deb in "${CAMERA_DEBS[@]}"; do
    if dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'install ok installed'; then
        continue
    elif [ "$OFFLINE" = 1 ]; then
        say "$deb is not installed (offline: skipped; sudo apt install $deb adds it)"
    elif [ -n "$(apt-cache policy "$deb" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v none)" ]; then
        say "apt-get install $deb"
        if [ "$updated" = 0 ]; then # stale package lists would fetch versions no longer there
            apt-get "${apt_wait[@]}" update -q || true
            updated=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -q \
            --no-install-recommends "$deb" || say "$deb could not be installed (skipped)"
    else
        say "$deb: no such package here (skipped: it comes with Raspberry Pi OS)"
    fi
done

# 5. Models, settings, the command and the service.
mkdir -p "$PREFIX/models"
for f in "$here"/models/*; do
    dest=$PREFIX/models/$(basename "$f")
    cmp -s "$f" "$dest" && continue
    install -m 644 "$f" "$dest.tmp" && mv -f "$dest.tmp" "$dest"
    say "model $(basename "$f")"
done
install -m 644 "$here/digit-edge.default" "$PREFIX/digit-edge.default"
echo "$version" >"$PREFIX/VERSION"
ln -sfn "$venv/bin/digit-edge" /usr/local/bin/digit-edge

if [ ! -e /etc/default/digit-edge ]; then
    install -m 644 "$here/digit-edge.default" /etc/default/digit-edge
    say "wrote /etc/default/digit-edge"
elif ! cmp -s "$here/digit-edge.default" /etc/default/digit-edge; then
    say "kept your /etc/default/digit-edge (the bundle's defaults: $PREFIX/digit-edge.default)"
fi
unit=/etc/systemd/system/digit-edge.service
if ! cmp -s "$here/digit-edge.service" "$unit"; then
    install -m 644 "$here/digit-edge.service" "$unit.tmp" && mv -f "$unit.tmp" "$unit"
    say "installed $unit"
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if systemctl is-active --quiet digit-edge.service; then
        systemctl restart digit-edge.service # an update: the running service has the old code
        say "restarted digit-edge.service"
    fi
    if [ "$ENABLE" = 1 ]; then systemctl enable --now digit-edge.service; fi
elif [ "$ENABLE" = 1 ]; then
    systemctl enable digit-edge.service # not booted with systemd (a chroot): enable only
fi
say "digit-edge $version ready: digit-edge classify PHOTO.png --model $PREFIX/models/$(
    sed -n 's|^DIGIT_EDGE_MODEL=.*/||p' "$here/digit-edge.default")"

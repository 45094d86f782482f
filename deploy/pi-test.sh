#!/usr/bin/env bash
# make pi-test: install the deploy bundle on an emulated Raspberry Pi (Debian bookworm arm64
# under qemu-user-static) exactly as the README tells a user, run the edge CLI there and on the
# host's edge runtime, and compare (deploy/pi_compare.py).
#
#   deploy/pi-test.sh BUNDLE FLOAT32_MODEL INT8_MODEL MNIST_DIR
#
#   PI_TEST_DIR   work folder (default build/pi-test): inputs, outputs, the Pi's writable layer
#   EDGE_PYTHON   the host's edge runtime (default .venv-edge/bin/python)
#   PI_LIMIT      MNIST test images to evaluate (default 1000)
#
# The cached root filesystem (deploy/pi-rootfs.sh) is never changed: the Pi of one run is an
# overlay on it whose writable layer lives in PI_TEST_DIR and is thrown away afterwards.
set -euo pipefail

main() {
    [ $# = 4 ] || { echo "usage: $0 BUNDLE FLOAT32_MODEL INT8_MODEL MNIST_DIR" >&2; exit 2; }
    local bundle=$1 float_model=$2 int8_model=$3 mnist_dir=$4
    local here work edge_python limit start
    here=$(cd "$(dirname "$0")" && pwd)
    work=$(realpath -m "${PI_TEST_DIR:-build/pi-test}")
    edge_python=${EDGE_PYTHON:-.venv-edge/bin/python}
    limit=${PI_LIMIT:-1000}
    start=$(date +%s)
    for f in "$bundle" "$float_model" "$int8_model"; do
        [ -f "$f" ] || die "$f does not exist"
    done
    [ -d "$mnist_dir" ] || die "no MNIST folder $mnist_dir (set DATA=...)"
    [ -x "$edge_python" ] || die "no host edge runtime $edge_python (make setup-edge)"

    "$here/pi-host.sh"
    local rootfs
    rootfs=$("$here/pi-rootfs.sh")

    # A fresh Pi: an overlay on the cached tree, removed on exit (unmounted first, always).
    root=$work/pi
    unmount_root
    [ -z "$(mounted_under "$work")" ] || die "$work is still mounted; not touching it"
    rm -rf --one-file-system "$work"
    mkdir -p "$work"/{upper,ovl,pi,data,host,out}
    trap unmount_root EXIT
    mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/ovl" "$root" \
        || die "cannot mount an overlay on $rootfs"
    step "emulated Pi ready from $rootfs"

    # Inputs made at run time from MNIST (never committed), copied where a user would put them.
    "$edge_python" "$here/pi_data.py" --mnist "$mnist_dir" --out "$work/data" >/dev/null
    local home=$root/home/pi
    mkdir -p "$home/mnist"
    cp -r "$work/data" "$home/data"
    cp "$mnist_dir"/* "$home/mnist/" # the edge reader takes the folder as shipped
    cp "$bundle" "$home/"

    # Install as the README says, twice: the second run must change nothing.
    local name
    name=$(basename "$bundle")
    pi bash -c "cd /home/pi && tar xzf $name"
    local dir
    dir=$(tar tzf "$bundle" | head -n1 | cut -d/ -f1)
    step "install 1: sudo ./install.sh --offline"
    pi bash -c "cd /home/pi/$dir && ./install.sh --offline" | sed 's/^/    pi| /'
    snapshot >"$work/out/install-1.txt"
    step "install 2 (idempotence)"
    pi bash -c "cd /home/pi/$dir && ./install.sh --offline" | sed 's/^/    pi| /'
    snapshot >"$work/out/install-2.txt"
    diff -u "$work/out/install-1.txt" "$work/out/install-2.txt" \
        || die "the second install changed the files above: install.sh is not idempotent"
    if ls "$root/opt/digit-edge/venv/lib/python3.11/site-packages" | grep -iE '^(numpy|opencv|cv2)'; then
        die "pip put NumPy/OpenCV into the venv over Debian's"
    fi
    echo "    install.sh: idempotent ($(wc -l <"$work/out/install-1.txt") files unchanged)"

    step "systemd-analyze verify digit-edge.service"
    pi systemd-analyze verify /etc/systemd/system/digit-edge.service 2>&1 | sed 's/^/    pi| /'
    [ "${PIPESTATUS[0]}" = 0 ] || die "systemd-analyze verify rejected the unit"
    pi systemctl enable digit-edge.service 2>&1 | sed 's/^/    pi| /'
    [ -L "$root/etc/systemd/system/multi-user.target.wants/digit-edge.service" ] \
        || die "systemctl enable did not hook the unit into multi-user.target"

    # The same commands on both sides; only the paths differ.
    local pi_models=/opt/digit-edge/models f32 i8
    f32=$(basename "$float_model")
    i8=$(basename "$int8_model")
    local host_models
    host_models=$(cd "$(dirname "$float_model")" && pwd)
    [ "$host_models" = "$(cd "$(dirname "$int8_model")" && pwd)" ] \
        || die "the float32 and int8 models must sit in one folder"
    step "edge CLI on the emulated Pi (qemu, slow) and on the host"
    run_side pi /usr/local/bin/digit-edge "$pi_models" /home/pi/data /home/pi/mnist
    run_side host "$(dirname "$edge_python")/digit-edge" "$host_models" "$work/data" "$mnist_dir"
    versions pi >"$work/out/pi/versions.json"
    versions host >"$work/out/host/versions.json"

    step "host vs Pi"
    "$edge_python" "$here/pi_compare.py" --host "$work/out/host" --pi "$work/out/pi" \
        --expected "$work/data/expected.json" --limit "$limit"
    echo "pi-test: passed in $(($(date +%s) - start)) s"
}

die() { echo "pi-test: $*" >&2; exit 1; }
step() { echo "== $*"; }
mounted_under() { awk -v p="$1/" 'index($2 "/", p) == 1 {print $2}' /proc/mounts; }
unmount_root() {
    if [ -n "${root:-}" ] && mountpoint -q "$root"; then umount "$root" || umount -l "$root"; fi
}
pi() { "$(dirname "$0")/pi-chroot.sh" "$root" "$@"; }

# Every installed file with its hash (symlinks with their target), for the idempotence check.
snapshot() {
    (cd "$root" && find opt/digit-edge etc/default/digit-edge etc/systemd/system usr/local/bin \
        -xdev \( -type f -o -type l \) -printf '%y %p %l\n' | sort | while read -r type path link; do
        if [ "$type" = f ]; then echo "$(sha256sum <"$path" | cut -c1-16) $path"; else echo "-> $link $path"; fi
    done)
}

# run_side NAME DIGIT_EDGE MODELS DATA MNIST: classify, eval and camera into $work/out/NAME.
run_side() {
    local side=$1 de=$2 models=$3 data=$4 mnist=$5 out=$work/out/$1 runner=()
    [ "$side" = pi ] && runner=(pi)
    local t0 images
    t0=$(date +%s)
    images=$(cd "$work/data" && ls digits/* | sed "s|^|$data/|" | xargs)
    for m in "$f32" "$i8"; do
        # shellcheck disable=SC2086 # $images is a word list on purpose
        "${runner[@]}" "$de" classify $images --model "$models/$m" --json \
            >"$out/classify_${m%.tflite}.json" || die "$side: classify with $m failed"
    done
    "${runner[@]}" "$de" eval "$models/$f32" "$models/$i8" --data "$mnist" --limit "$limit" --json \
        >"$out/eval.json" || die "$side: eval failed"
    local frames
    frames=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video"]["frames"])' \
        "$work/data/expected.json")
    if [ "$side" = pi ]; then
        # The service's own command line, as the unprivileged user it would run as.
        pi setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "
            set -a; . /etc/default/digit-edge; set +a
            DIGIT_EDGE_SOURCE=$data/digits.avi DIGIT_EDGE_ARGS='--max-frames $frames'
            cmd=\$(sed -n 's/^ExecStart=//p' /etc/systemd/system/digit-edge.service)
            cd /tmp && eval \"exec \$cmd\"" >"$out/camera.jsonl" || die "pi: the service's camera command failed"
    else
        "$de" camera --model "$models/$(sed -n 's|^DIGIT_EDGE_MODEL=.*/||p' "$root/etc/default/digit-edge")" \
            --source "$data/digits.avi" --headless --max-frames "$frames" \
            >"$out/camera.jsonl" || die "host: camera failed"
    fi
    echo "    $side: classify, eval and camera in $(($(date +%s) - t0)) s"
}

versions() {
    local code='import json, platform, sys, cv2, numpy
from edge.runtime import load_runtime
rt = load_runtime()
print(json.dumps({"platform": platform.machine(), "python": platform.python_version(),
  "numpy": numpy.__version__, "opencv": cv2.__version__, "interpreter": rt.describe(),
  "numpy_from": numpy.__file__, "os": platform.freedesktop_os_release().get("PRETTY_NAME", "")}))'
    if [ "$1" = pi ]; then pi /opt/digit-edge/venv/bin/python -c "$code"; else "$edge_python" -c "$code"; fi
}

main "$@"

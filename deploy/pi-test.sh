#!/usr/bin/env bash
# make pi-test: install the deploy bundle on an emulated Raspberry Pi (Debian arm64 of one
# Raspberry Pi OS release, under qemu-user-static) exactly as the README tells a user, run the
# edge CLI there and on the host with the same interpreter, and compare (deploy/pi_compare.py).
#
#   deploy/pi-test.sh RELEASE BUNDLE FLOAT32_MODEL INT8_MODEL MNIST_DIR   # RELEASE: trixie, bookworm
#
#   PI_TEST_DIR   work folder (default build/pi-test/RELEASE): inputs, outputs, the Pi's writable layer
#   EDGE_PYTHON   the host's edge runtime (default: host_python below)
#   PI_LIMIT      MNIST test images to evaluate (default 1000)
#
# What runs on both sides is run_side (add a command there and its comparison to pi_compare.py);
# the Pi's Debian packages are pi-rootfs.sh's PACKAGES.
#
# The cached root filesystem (deploy/pi-rootfs.sh) is never changed: the Pi of one run is an
# overlay on it whose writable layer lives in PI_TEST_DIR and is thrown away afterwards.
set -Eeuo pipefail
trap 'echo "pi-test: failed: line $LINENO: $BASH_COMMAND" >&2' ERR

# The host runs the interpreter the Pi of that release installs (pi-requirements.txt), so int8
# results can be identical: tflite-runtime 2.14 and ai-edge-litert pick different int8 kernels.
host_python() {
    case $1 in
        bookworm) echo .venv-edge/bin/python ;; # tflite-runtime 2.14, NumPy 1.24
        trixie) echo .venv/bin/python ;;        # ai-edge-litert (pyproject pins the Pi's), NumPy 2
        *) die "unknown release $1 (trixie or bookworm)" ;;
    esac
}

main() {
    [ $# = 5 ] || { echo "usage: $0 RELEASE BUNDLE FLOAT32_MODEL INT8_MODEL MNIST_DIR" >&2; exit 2; }
    local release=$1 bundle=$2 float_model=$3 int8_model=$4 mnist_dir=$5
    local here work edge_python limit start
    here=$(cd "$(dirname "$0")" && pwd)
    work=$(realpath -m "${PI_TEST_DIR:-build/pi-test/$release}")
    edge_python=${EDGE_PYTHON:-$(host_python "$release")}
    limit=${PI_LIMIT:-1000}
    export PI_QEMU_CPU=${PI_QEMU_CPU:-cortex-a72} # pi-chroot.sh's CPU model
    start=$(date +%s)
    for f in "$bundle" "$float_model" "$int8_model"; do
        [ -f "$f" ] || die "$f does not exist"
    done
    [ -d "$mnist_dir" ] || die "no MNIST folder $mnist_dir (set DATA=...)"
    [ -x "$edge_python" ] || die "no host edge runtime $edge_python (make setup)"

    local rootfs
    rootfs=$("$here/pi-rootfs.sh" "$release") # which first makes the host able to run arm64

    # One run per work folder at a time.
    mkdir -p "$(dirname "$work")"
    exec 8>"$work.lock"
    flock -n 8 || die "another pi-test is running in $work"

    # A fresh Pi: an overlay on the cached tree, removed on exit (unmounted first, always).
    root=$work/pi
    unmount_root
    [ -z "$(mounted_under "$work")" ] || die "$work is still mounted; not touching it"
    rm -rf --one-file-system "$work"
    mkdir -p "$work"/{upper,ovl,pi,data} "$work"/out/{pi,host}
    trap unmount_root EXIT
    if ! mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/ovl" \
        "$root" 2>/dev/null; then
        echo "    no overlayfs for $work here: copying the tree instead"
        cp -a --one-file-system "$rootfs/." "$root/"
    fi
    # As on a booted Pi, /proc and /sys are there (read-only /sys: the CPU list XNNPACK reads).
    mount -t proc proc "$root/proc"
    mount -t sysfs -o ro sysfs "$root/sys"
    # ... and /proc/cpuinfo names the Pi's Arm cores: qemu 7.2 would show the x86 host's.
    pi_cpuinfo "$PI_QEMU_CPU" >"$work/cpuinfo"
    mount --bind -o ro "$work/cpuinfo" "$root/proc/cpuinfo"
    step "emulated Raspberry Pi OS $release ready from $rootfs ($PI_QEMU_CPU)"

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
    dir=$(tar tzf "$bundle" | sed -n '1s|/.*||p')
    step "install 1: sudo ./install.sh --offline"
    pi bash -c "cd /home/pi/$dir && ./install.sh --offline" | sed 's/^/    pi| /'
    snapshot >"$work/out/install-1.txt"
    step "install 2 (idempotence)"
    pi bash -c "cd /home/pi/$dir && ./install.sh --offline" | sed 's/^/    pi| /'
    snapshot >"$work/out/install-2.txt"
    diff -u "$work/out/install-1.txt" "$work/out/install-2.txt" \
        || die "the second install changed the files above: install.sh is not idempotent"
    local leaked
    for leaked in "$root"/opt/digit-edge/venv/lib/python3*/site-packages/{numpy,cv2,opencv}*; do
        [ ! -e "$leaked" ] || die "pip put $(basename "$leaked") into the venv over Debian's"
    done
    echo "    install.sh: idempotent ($(wc -l <"$work/out/install-1.txt") files unchanged)"

    step "systemd-analyze verify digit-edge.service"
    # Strict: an error (exit 1) or a warning (e.g. an unknown key, exit 0) both fail.
    if ! pi systemd-analyze verify /etc/systemd/system/digit-edge.service >"$work/out/verify.txt" 2>&1 \
        || [ -s "$work/out/verify.txt" ]; then
        sed 's/^/    pi| /' "$work/out/verify.txt"
        die "systemd-analyze verify rejected digit-edge.service (above)"
    fi
    echo "    systemd-analyze verify: no errors, no warnings"
    pi systemctl enable digit-edge.service 2>&1 | sed 's/^/    pi| /'
    [ -L "$root/etc/systemd/system/multi-user.target.wants/digit-edge.service" ] \
        || die "systemctl enable did not hook the unit into multi-user.target"

    # The same commands on both sides; only the paths differ.
    local pi_models=/opt/digit-edge/models f32 i8
    f32=$(basename "$float_model")
    i8=$(basename "$int8_model")
    # The host runs the very files the bundle shipped (artifacts/ may be rewritten meanwhile).
    local host_models=$work/bundle/$dir/models
    mkdir -p "$work/bundle"
    tar xzf "$bundle" -C "$work/bundle"
    for m in "$f32" "$i8"; do
        [ -f "$host_models/$m" ] || die "the bundle does not ship $m (PI_MODELS?)"
    done
    step "edge CLI on the emulated Pi (qemu, slow) and on the host"
    cp "$here/pi_predict.py" "$home/pi_predict.py"
    predict=/home/pi/pi_predict.py
    run_side pi /usr/local/bin/digit-edge /opt/digit-edge/venv/bin/python "$pi_models" \
        /home/pi/data /home/pi/mnist
    # The host runs the bundle's own edge code (unzipped from its wheel) on its edge runtime.
    "$edge_python" -m zipfile -e "$work/bundle/$dir"/wheels/digit_edge-*.whl "$work/host-edge"
    printf '#!/bin/sh\nPYTHONPATH=%s exec %s -P "$@"\n' "$work/host-edge" "$(realpath -s "$edge_python")" \
        >"$work/host-python"
    printf '#!/bin/sh\nexec %s -m edge "$@"\n' "$work/host-python" >"$work/host-digit-edge"
    chmod +x "$work/host-python" "$work/host-digit-edge"
    edge_python=$work/host-python
    predict=$here/pi_predict.py
    run_side host "$work/host-digit-edge" "$edge_python" "$host_models" "$work/data" "$mnist_dir"
    serve_on_pi
    versions pi >"$work/out/pi/versions.json"
    versions host >"$work/out/host/versions.json"

    step "host vs Pi"
    "$edge_python" "$here/pi_compare.py" --release "$release" --host "$work/out/host" \
        --pi "$work/out/pi" --expected "$work/data/expected.json" --limit "$limit" \
        --camera-model "$(service_model)"
    step "MQTT: the Pi's service publishes to a broker on the host's loopback"
    "$here/pi-mqtt.sh" "$root" /home/pi/data/digits.avi "$(python3 -c \
        'import json,sys; print(json.load(open(sys.argv[1]))["video"]["frames"])' \
        "$work/data/expected.json")" "$work/out/mqtt"
    echo "pi-test $release: passed in $(($(date +%s) - start)) s"
}

die() { echo "pi-test: $*" >&2; exit 1; }
step() { echo "== $*"; }
mounted_under() { awk -v p="$1/" 'index($2 "/", p) == 1 {print $2}' /proc/mounts; }
unmount_root() {
    [ -n "${root:-}" ] || return 0
    local m
    for m in $(mounted_under "$root" | sort -r); do
        umount "$m" 2>/dev/null || { sleep 2 && umount "$m"; } || umount -l "$m"
    done
}
pi() { "$(dirname "$0")/pi-chroot.sh" "$root" "$@"; }

# /proc/cpuinfo as a Raspberry Pi's kernel writes it, for the CPU model qemu emulates, one entry
# per CPU the (host's) /sys lists. CPU-detection code reads it: XNNPACK's in ai-edge-litert 2.3
# crashes on the x86 host's that qemu 7.2 passes through (docs/deploy.md, "Which ai-edge-litert").
pi_cpuinfo() {
    local part variant revision features model i
    case $1 in
        cortex-a72) # Pi 4: BCM2711, no crypto extensions
            part=0xd08 variant=0x0 revision=3 model="Raspberry Pi 4 Model B Rev 1.5"
            features="fp asimd evtstrm crc32 cpuid" ;;
        cortex-a76) # Pi 5: BCM2712
            part=0xd0b variant=0x4 revision=1 model="Raspberry Pi 5 Model B Rev 1.0"
            features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid"
            features+=" asimdrdm lrcpc dcpop asimddp" ;;
        *) die "PI_QEMU_CPU=$1: use cortex-a72 (Pi 4) or cortex-a76 (Pi 5)" ;;
    esac
    for ((i = 0; i < $(getconf _NPROCESSORS_CONF); i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' \
            "$i" "$features"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %d\n\n' \
            "$variant" "$part" "$revision"
    done
    printf 'Model\t\t: %s\n' "$model"
}

# Every installed file with its hash (symlinks with their target), for the idempotence check;
# bytecode caches aside (pip recompiles them with new timestamps).
snapshot() {
    (cd "$root" && {
        find opt/digit-edge etc/default/digit-edge etc/systemd/system usr/local/bin -xdev \
            -not -path '*/__pycache__/*' -type f -print0 | sort -z | xargs -0 sha256sum
        find opt/digit-edge etc/systemd/system usr/local/bin -xdev -type l -printf '%p -> %l\n' | sort
    })
}

# The file name of the model the Pi's service reads with (its /etc/default/digit-edge).
service_model() {
    sed -n 's|^DIGIT_EDGE_MODEL=.*/||p' "$root/etc/default/digit-edge"
}

# run_side NAME DIGIT_EDGE PYTHON MODELS DATA MNIST: the edge CLI's classify, eval and camera,
# and pi_predict.py, with outputs in $work/out/NAME. --top-k 10 prints all ten probabilities.
run_side() {
    local side=$1 de=$2 py=$3 models=$4 data=$5 mnist=$6 out=$work/out/$1 runner=() t0 f m
    local images=()
    [ "$side" = pi ] && runner=(pi)
    t0=$(date +%s)
    for f in "$work"/data/digits/*; do images+=("$data/digits/${f##*/}"); done
    for m in "$f32" "$i8"; do
        "${runner[@]}" "$de" classify "${images[@]}" --model "$models/$m" --top-k 10 --json \
            >"$out/classify_${m%.tflite}.json" || die "$side: digit-edge classify with $m failed"
    done
    "${runner[@]}" "$de" eval "$models/$f32" "$models/$i8" --data "$mnist" --limit "$limit" --json \
        >"$out/eval.json" || die "$side: digit-edge eval failed"
    "${runner[@]}" "$py" "$predict" "$models/$f32" "$models/$i8" --data "$mnist" --limit "$limit" \
        >"$out/predict.json" || die "$side: pi_predict.py failed"
    local frames model
    frames=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["video"]["frames"])' \
        "$work/data/expected.json")
    if [ "$side" = pi ]; then
        # The service's own command line (ExecStart with /etc/default/digit-edge), as an
        # unprivileged user, on the video instead of a camera.
        pi setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "
            set -a; . /etc/default/digit-edge; set +a
            DIGIT_EDGE_SOURCE=$data/digits.avi DIGIT_EDGE_ARGS='--max-frames $frames --top-k 10'
            cmd=\$(sed -n 's/^ExecStart=//p' /etc/systemd/system/digit-edge.service)
            cd /tmp && eval \"exec \$cmd\"" >"$out/camera.jsonl" \
            || die "pi: the service's camera command failed"
    else
        model=$(service_model)
        "$de" camera --model "$models/$model" --source "$data/digits.avi" --headless \
            --max-frames "$frames" --top-k 10 >"$out/camera.jsonl" || die "host: camera failed"
    fi
    # The camera's other sources on the same video, with the service's model: the MJPEG stream
    # on standard input (the video's own JPEG frames) on both sides, and a GStreamer pipeline on
    # the Pi (Debian's OpenCV has the backend; the host's PyPI OpenCV has none).
    model=$(service_model)
    "${runner[@]}" "$de" camera --model "$models/$model" --source - --headless --top-k 10 \
        <"$work/data/digits.mjpeg" >"$out/camera_stdin.jsonl" || die "$side: camera --source - failed"
    if [ "$side" = pi ]; then
        pi "$de" camera --model "$models/$model" --headless --top-k 10 --source \
            "filesrc location=$data/digits.avi ! decodebin ! videoconvert ! appsink" \
            >"$out/camera_gst.jsonl" || die "pi: camera with a GStreamer pipeline failed"
    fi
    echo "    $side: classify, eval, predict and camera (file, stdin$([ "$side" = pi ] && echo ', GStreamer')) in $(($(date +%s) - t0)) s"
}

# `digit-edge serve` on the Pi's own aiohttp (Debian's python3-aiohttp): it plays the video,
# then /healthz, /api/status and /api/reading answer; on 127.0.0.1, stopped by its pid.
serve_on_pi() {
    local out=$work/out/pi port pid model i state=""
    model=$(sed -n 's|^DIGIT_EDGE_MODEL=||p' "$root/etc/default/digit-edge")
    port=$("$edge_python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # pi-chroot.sh execs into the server, so $! is the server's own pid.
    "$(dirname "$0")/pi-chroot.sh" "$root" /usr/local/bin/digit-edge serve --model "$model" \
        --source /home/pi/data/digits.avi --host 127.0.0.1 --port "$port" >"$out/serve.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 240; i++)); do
        state=$(curl -fsS "http://127.0.0.1:$port/api/status" 2>/dev/null \
            | "$edge_python" -c 'import json, sys; print(json.load(sys.stdin)["state"])' 2>/dev/null) || true
        [ "$state" = ended ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    curl -fsS "http://127.0.0.1:$port/api/reading" >"$out/serve_reading.json" || true
    curl -fsS "http://127.0.0.1:$port/healthz" >"$out/serve_healthz.json" || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" || true
    [ "$state" = ended ] || { sed 's/^/    pi| /' "$out/serve.log"; die "pi: serve did not play the video to its end"; }
    echo "    pi: serve played the video; $(cat "$out/serve_healthz.json")"
}

versions() {
    local code='import json, platform, sys, cv2, numpy, edge
from edge.runtime import load_runtime
rt = load_runtime()
print(json.dumps({"platform": platform.machine(), "python": platform.python_version(),
  "numpy": numpy.__version__, "opencv": cv2.__version__, "interpreter": rt.describe(),
  "numpy_from": numpy.__file__, "opencv_from": cv2.__file__, "edge_from": edge.__file__, "os": platform.freedesktop_os_release().get("PRETTY_NAME", "")}))'
    if [ "$1" = pi ]; then pi /opt/digit-edge/venv/bin/python -c "$code"; else "$edge_python" -c "$code"; fi
}

main "$@"

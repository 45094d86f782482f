#!/usr/bin/env bash
# make pi-test, MQTT: the emulated Pi's service publishes its readings with Debian's
# python3-paho-mqtt to a mosquitto on the host's loopback (a chroot shares the host's network),
# configured as a user would, in /etc/default/digit-edge. Every reading must arrive, equal to
# what the service printed, and the device's status must end "offline".
#
#   deploy/pi-mqtt.sh ROOT PI_VIDEO FRAMES OUT
#
#   ROOT      the emulated Pi's root filesystem, with the bundle installed
#   PI_VIDEO  the digit video as the Pi sees it (pi-test's /home/pi/data/digits.avi)
#   FRAMES    its frame count
#   OUT       a host folder for the broker's config and log and what arrived
set -euo pipefail

[ $# = 4 ] || { echo "usage: $0 ROOT PI_VIDEO FRAMES OUT" >&2; exit 2; }
root=$1 video=$2 frames=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
device=emulated-pi
die() { echo "pi-mqtt: $*" >&2; exit 1; }
pi() { "$here/pi-chroot.sh" "$root" "$@"; }
tool() { PATH=$PATH:/usr/sbin command -v "$1" || die "$1 is missing: apt-get install mosquitto mosquitto-clients"; }

mosquitto=$(tool mosquitto)
mosquitto_sub=$(tool mosquitto_sub)
mkdir -p "$out"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\n' "$port" "$(id -un)" >"$out/mosquitto.conf"
"$mosquitto" -c "$out/mosquitto.conf" >"$out/mosquitto.log" 2>&1 &
broker=$!
sub=
stop() { # our own two processes, by their ids
    if [ -n "$sub" ]; then kill "$sub" 2>/dev/null || true; fi
    kill "$broker" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
"$mosquitto_sub" -h 127.0.0.1 -p "$port" -q 1 -t "digit-edge/$device/#" -v >"$out/arrived.txt" &
sub=$!
sleep 0.5

paho=$(pi /opt/digit-edge/venv/bin/python -c \
    'import paho.mqtt, paho.mqtt.client as c; print(paho.mqtt.__version__, c.__file__)') \
    || die "the Pi's venv cannot import paho.mqtt (python3-paho-mqtt)"
case $paho in
    *" /usr/lib/python3/dist-packages/"*) ;;
    *) die "paho-mqtt on the Pi is not Debian's python3-paho-mqtt: $paho" ;;
esac

# What a user writes into /etc/default/digit-edge; then the service's own command line.
sed -i -e "s|^DIGIT_EDGE_MQTT=.*|DIGIT_EDGE_MQTT=mqtt://127.0.0.1:$port|" \
    -e "s|^DIGIT_EDGE_DEVICE_ID=.*|DIGIT_EDGE_DEVICE_ID=$device|" "$root/etc/default/digit-edge"
grep -qx "DIGIT_EDGE_MQTT=mqtt://127.0.0.1:$port" "$root/etc/default/digit-edge" \
    || die "/etc/default/digit-edge has no DIGIT_EDGE_MQTT= line"
pi setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "
    set -a; . /etc/default/digit-edge
    DIGIT_EDGE_SOURCE=$video DIGIT_EDGE_ARGS='--max-frames $frames'
    set +a
    cmd=\$(sed -n 's/^ExecStart=//p' /etc/systemd/system/digit-edge.service)
    cd /tmp && eval \"exec \$cmd\"" >"$out/camera.jsonl" 2>"$out/camera.err" \
    || { cat "$out/camera.err" >&2; die "the service's camera command with MQTT failed"; }

for _ in $(seq 300); do # what the service sent, the subscriber has: up to 30 s
    grep -q "^digit-edge/$device/status offline$" "$out/arrived.txt" && break
    sleep 0.1
done
sleep 0.3
python3 - "$out" "$frames" "$device" "$paho" <<'PY'
import json, sys
from pathlib import Path

out, frames, device, paho = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
printed = [json.loads(line) for line in (out / "camera.jsonl").read_text().splitlines()]
summary, readings = printed[-1], printed[:-1]
arrived = [line.partition(" ") for line in (out / "arrived.txt").read_text().splitlines()]
sent = [json.loads(p) for t, _, p in arrived if t == f"digit-edge/{device}/reading"]
status = [p for t, _, p in arrived if t == f"digit-edge/{device}/status"]
problems = []
if len(readings) != frames:
    problems.append(f"the service printed {len(readings)} readings, not {frames}")
if sent != readings:
    problems.append(f"{len(sent)} readings arrived, {len(readings)} printed, or they differ")
if [r["seq"] for r in sent] != list(range(1, frames + 1)):
    problems.append("the sequence numbers that arrived are not 1..%d" % frames)
if status[-1:] != ["offline"] or "online" not in status:
    problems.append(f"status went {status}, not online ... offline")
if summary.get("mqtt", {}).get("published") != frames:
    problems.append(f"the summary says {summary.get('mqtt')}")
if problems:
    sys.exit("pi-mqtt: " + "; ".join(problems))
print(f"    mqtt: {len(sent)} of {frames} readings from the emulated Pi arrived at the host's "
      f"broker in order, status online then offline (paho-mqtt {paho.split()[0]}, Debian's)")
PY

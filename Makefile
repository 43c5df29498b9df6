# The two commands of the README:
#   make demo   set everything up on a fresh machine and run the main job
#   make test   set everything up and run the whole test suite
# Everything lives in .venv; the Graphviz `dot` program and a minimal TeX (pdflatex, for the LaTeX tests)
# come from apt-get where the machine allows it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test explore bench bench-targets setup setup-dev system-deps clean

# The main job: write the lecture figures, then check every derivation in derivations/ (planted
# errors must be caught) and draw a figure of each caught error, all into figures/.
demo: setup system-deps
	@$(BIN)/python examples/lecture_figures.py --out figures --format png | tail -n 1
	$(BIN)/gradlab check derivations/ --figure figures

test: setup-dev system-deps
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# The wider Hypothesis exploration profile (more examples, random seeds).
explore: setup-dev system-deps
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest --hypothesis-profile=explore $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/run_all.py

# The speed targets of issues 2 and 3, each measured in 5 fresh interpreters (about 6 minutes).
bench-targets: setup
	$(BIN)/python benchmarks/targets.py

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || \
	  { echo "gradlab needs Python >= 3.10; found $$($(PYTHON) --version 2>&1). Run: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "gradlab: could not create a virtual environment; on Debian/Ubuntu: apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

system-deps:
	@sh .ci/install-dot
	@sh .ci/install-tex

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

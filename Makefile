# Two commands do everything on a fresh machine with Python 3.11 and make:
#   make train       set up .venv if needed, then train on the built-in demo dataset (report in runs/)
#   make test        set up .venv if needed, then nbdev_test and pytest (the fast set, ~10 min on 2 cores with set-up)
#   make test-slow   the long notebook cells (#| slow) and tests (@pytest.mark.slow), with the bench, postgres and launch extras; .ci/run runs it after make test
#   make tutorials   run the tutorial notebooks again and keep their outputs (the docs show them as stored)
#   make bench       the benchmarks in bench/ (installs the bench extra: mplfinance, pyts, sktime)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/demo.yaml
RUN    ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
export PIP_DISABLE_PIP_VERSION_CHECK = 1
# nbdev_test runs two notebooks at a time. OpenMP threads that spin while they wait (the default) starve the other
# one: a LightGBM notebook beside a training notebook ran 27x slower than alone. So the notebooks run with one
# thread each, and idle threads sleep.
NB_THREADS = OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# Notebooks whose cells are flagged `#| slow`
SLOW_NBS = $(shell grep -l '"\#| slow' nbs/*.ipynb | xargs -n1 basename | sed 's/\.ipynb$$//' | paste -sd'|')

.PHONY: install train test test-slow export docs tutorials bench clean-venv

# torch/torchvision first and pinned exactly: the CUDA wheels these machines keep locally (see ENVIRONMENT.md).
# pip byte-compiles what it installs one file at a time (about a minute for torch alone); compileall does it on
# every core in half the time. The byte code matters: where PYTHONDONTWRITEBYTECODE is set, nothing is compiled
# later, and every process would spend 15 s instead of 6 s importing tsic.train. (compileall's exit status is
# ignored: a package's deliberately broken test file just stays uncompiled.)
$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q --no-compile -e ".[dev]"
	-$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

train: install
	mkdir -p $(RUN)
	$(BIN)/papermill nbs/train.ipynb $(RUN)/train.ipynb -p config $(CONFIG) -p run_dir $(RUN)
	@echo "Report: $(RUN)/train.ipynb  metrics: $(RUN)/metrics.json"

# The notebooks are the source: fail when tsic/ is not what nbdev_export writes from them.
export: install
	$(BIN)/nbdev_export
	@if git rev-parse --git-dir >/dev/null 2>&1 && [ -n "$$(git status --porcelain -- tsic)" ]; then \
	  git status --porcelain -- tsic; echo "tsic/ is out of sync with nbs/: run nbdev_export and commit"; exit 1; fi

# pytest runs its test files on up to 4 worker processes (pytest-xdist; one per core): most of a test's time is a
# process that imports torch or trains on one core. Each file stays on one worker, in order.
test: install export
	$(NB_THREADS) $(BIN)/nbdev_test --timing
	$(BIN)/pytest tests -q -n auto --maxprocesses 4 --dist loadfile --durations=10

test-slow: install export
	$(BIN)/pip install -q -e ".[dev,bench,postgres,launch]"  # sktime's UCR sets and MiniRocket; psycopg; accelerate
	$(NB_THREADS) $(BIN)/nbdev_test --flags slow --file_re '^($(SLOW_NBS))\.ipynb$$' --timing
	$(BIN)/pytest tests -q -m slow --durations=10

# The docs site, rendered offline into docs/ (tools/docs.py: the notebooks run as nbdev_test runs them, nbdev's
# processors, nbconvert). The published site is nbdev_docs with Quarto (.github/workflows/deploy.yaml).
docs: install export
	$(NB_THREADS) $(BIN)/python tools/docs.py --out docs

# The tutorials (nbs/tutorial_*.ipynb) run again and saved with their outputs, which the docs site shows as stored
# (about 12 minutes on 2 cores; the UCR one needs the bench extra's sktime). `ONLY="quick_start ucr"` picks some.
tutorials: install export
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python tools/tutorials.py $(if $(ONLY),--only $(ONLY))

# Benchmarks (not tests): rendering speed against mplfinance/pyts, prediction latency, and the UCR table the README quotes
# (tsic beside MiniRocket on 8 sets, 3 seeds: about 40 minutes on 2 cores).
bench: install
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python bench/render.py
	$(BIN)/python bench/predict.py
	$(BIN)/python bench/ucr.py --all --threads 1 --parts bench/results/parts/transformer --out bench/results/ucr
	$(BIN)/python bench/parts_table.py bench/results/parts/transformer --out bench/results/ucr_parts
	$(BIN)/python bench/planted_probe.py

clean-venv:
	rm -rf $(VENV)

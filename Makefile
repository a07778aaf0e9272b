# tabmixr: `make demo` runs the sleepstudy demo, `make test` runs every test.
# Both install what they need first (idempotent: only what is missing).
#
#   deps     Debian R packages (apt, only when one is missing) + Python packages (pip)
#   install  editable install of tabmixr with its C++ module (incremental build in build/)
#   demo     deps + install + python -m tabmixr.demo
#   test     deps + install + pytest (+ the R package's testthat suite once r-package/tests exists)
#   bench    deps + install + every bench/*.py and bench/*.R

SHELL := /bin/bash
PYTHON ?= python
PIP := $(PYTHON) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_ROOT_USER_ACTION := ignore

R_DEBS := r-base-core r-base-dev r-cran-lme4 r-cran-reticulate r-cran-testthat \
          r-cran-nlme r-cran-mlmrev r-cran-jsonlite r-cran-roxygen2 \
          libsuitesparse-dev libopenblas-dev
# Installed without their Recommends (r-cran-insight recommends brms, rstan and ~80 more;
# r-cran-performance checks our R^2 and ICC in tests/interpret).
R_DEBS_LEAN := r-cran-insight r-cran-performance
TORCH := torch==2.13.0
PY_DEPS := "numpy>=1.24" "scipy>=1.10" "pandas>=2.0" "formulaic>=1.0" "arviz>=0.17" "tqdm>=4.60" "matplotlib>=3.6" "threadpoolctl>=3.1" "shap>=0.44"
BUILD_DEPS := "scikit-build-core>=0.10" "pybind11>=2.12"
TEST_DEPS := "pytest>=8" "hypothesis>=6"
# bench-only: CHOLMOD through scikit-sparse (< 0.4.15 builds against Debian's SuiteSparse 5),
# XGBoost (the CPU-only wheel) for bench/vi_predictive.py
BENCH_DEPS := "scikit-sparse<0.4.15" "xgboost-cpu>=2.0"

# reticulate (R package, demo) must use the Python tabmixr is installed into.
export RETICULATE_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null)

.PHONY: deps r-deps py-deps build-deps rpy2 install r-install demo test test-python test-r check-r bench clean

deps: r-deps py-deps

r-deps:
	@missing=""; \
	for p in $(R_DEBS) $(R_DEBS_LEAN); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages (missing:$$missing)"; \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(R_DEBS) && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(R_DEBS_LEAN); \
	else \
	  echo "R and R packages: all present"; \
	fi

# torch first and pinned: any other version pulls gigabytes of CUDA wheels.
py-deps: build-deps
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q $(PY_DEPS) $(TEST_DEPS)
	@$(MAKE) --no-print-directory rpy2

build-deps:
	$(PIP) install -q $(BUILD_DEPS)
	@command -v cmake >/dev/null 2>&1 || $(PIP) install -q "cmake>=3.18"
	@command -v ninja >/dev/null 2>&1 || $(PIP) install -q ninja

# rpy2 is optional (tests fall back to Rscript).  rpy2 >= 3.6 needs R >= 4.5, so
# on an older R take the 3.5 series; a broken install is replaced, a working one kept.
rpy2:
	@if $(PYTHON) -c "import rpy2.robjects" >/dev/null 2>&1; then \
	  echo "rpy2: works"; \
	else \
	  spec=$$(Rscript -e 'cat(if (getRversion() < "4.5.0") "rpy2<3.6" else "rpy2")' 2>/dev/null || echo rpy2); \
	  echo "installing $$spec"; \
	  $(PIP) uninstall -q -y rpy2 rpy2-rinterface rpy2-robjects >/dev/null 2>&1 || true; \
	  $(PIP) install -q "$$spec" || echo "warning: rpy2 not installed; R comparisons use Rscript"; \
	fi

install: build-deps
	$(PIP) install -q --no-build-isolation -e .
	$(PYTHON) -c "import tabmixr._kernels"

# The R package (r-package/) talks to the Python installed above.
r-install:
	@if [ -f r-package/DESCRIPTION ] && command -v R >/dev/null 2>&1; then \
	  echo "R CMD INSTALL r-package"; R CMD INSTALL --no-multiarch r-package >/dev/null; \
	fi

demo: deps install r-install
	$(PYTHON) -m tabmixr.demo

test: deps install r-install
	$(MAKE) --no-print-directory test-python
	@if [ -d r-package/tests ]; then $(MAKE) --no-print-directory test-r; fi

test-python:
	$(PYTHON) -m pytest tests -q

test-r: r-install
	pkg=$$(sed -n 's/^Package: *//p' r-package/DESCRIPTION); \
	Rscript -e "testthat::test_dir('r-package/tests/testthat', package = '$$pkg', load_package = 'installed', stop_on_failure = TRUE)"
	@$(MAKE) --no-print-directory check-r

# R CMD check --no-manual on the built package (built in a temp dir: the source
# tree stays clean).  man/ and NAMESPACE are roxygen2's output, committed; the
# check's own testthat run skips the tests needing Python (test-r ran them), the
# examples run live when Python is there.  Fails on any ERROR or WARNING.
check-r:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && R CMD build --no-build-vignettes --no-manual "$(CURDIR)/r-package" >build.log 2>&1) \
	  || { cat "$$tmp/build.log"; exit 1; }; \
	TABMIXR_TESTS_NO_PYTHON=true _R_CHECK_FORCE_SUGGESTS_=false \
	  R CMD check --no-manual --no-build-vignettes -o "$$tmp" "$$tmp"/tabmixr_*.tar.gz >"$$tmp/check.out" 2>&1; \
	status=$$?; log="$$tmp/tabmixr.Rcheck/00check.log"; \
	grep -E "^(\* checking|Status)" "$$log" | grep -vE "\.\.\. (OK|NONE|SKIPPED)$$" || true; \
	if [ $$status -ne 0 ] || grep -qE "^Status: .*(ERROR|WARNING)" "$$log"; then \
	  cat "$$tmp/check.out"; cat "$$tmp"/tabmixr.Rcheck/tests/*.Rout.fail 2>/dev/null; exit 1; \
	fi; \
	echo "R CMD check: $$(grep '^Status' "$$log")"

bench: deps install
	$(PIP) install -q $(BENCH_DEPS)
	@for f in bench/*.py; do \
	  [ -e "$$f" ] || continue; \
	  echo "== $$f"; $(PYTHON) "$$f" || exit 1; \
	done
	@$(MAKE) --no-print-directory r-install
	@if [ -d r-package ] && command -v Rscript >/dev/null 2>&1; then \
	  for f in bench/*.R; do echo "== $$f"; Rscript "$$f" || exit 1; done; \
	fi

clean:
	rm -rf build dist *.egg-info .pytest_cache

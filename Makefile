# The two commands a new user needs: `make demo` and `make test`. Everything else is for developers.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS := test,grpc
# Real programs the tests drive (tests skip, never fail, where one is missing; `make test` installs them).
DEB_PACKAGES := prometheus haproxy postgresql chromium
DEB_COMMANDS := prometheus promtool haproxy pg_ctlcluster chromium

.PHONY: install system-deps test lint typecheck unit demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/healthgauge Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	$(fast_launcher)
	@touch $@

# pip installs the launcher with its /bin/sh line (it cannot put interpreter flags on a shebang).
# Where the interpreter's and the source's paths allow it, write the launcher an editable install
# needs and nothing more: the interpreter started directly (one exec less, ~1.3 ms of a ~14 ms
# `healthgauge check`), the source directory first on the path (no .pth file read, ~0.8 M
# instructions; found before the path's other entries are searched) and the package's `_launch`.
# Python compiles that file at every run: the general one cost 0.4 M instructions more a check
# (DEVELOPERS.md, "The check path"). Elsewhere, the general launcher with what can be written in.
define fast_launcher
	$(compile_pyc)
	@py="$(abspath $(BIN))/python3"; src="$(CURDIR)/src"; \
	if [ "$${#py}" -lt 120 ] && [ "$${py#* }" = "$$py" ] && [ -f "$$src/healthgauge/__init__.py" ] \
	  && [ "$$(printf %s "$$src" | tr -d '"\\\n')" = "$$src" ]; then \
	  printf '#!%s -IS\n%s\nimport sys;sys.path.insert(0,"%s");from healthgauge import _launch\n_launch()\n' "$$py" \
	    '# Written by `make install` (DEVELOPERS.md, "The check path"); scripts/healthgauge is the general one.' \
	    "$$src" > $(BIN)/healthgauge; \
	else \
	  if [ "$${#py}" -lt 120 ] && [ "$${py#* }" = "$$py" ]; then sed -i "1s|^#!.*|#!$$py -IS|" $(BIN)/healthgauge; fi; \
	  case "$$src" in *[\"\\\|]*) ;; *) sed -i "s|^_SOURCE = \"\"|_SOURCE = \"$$src\"|" $(BIN)/healthgauge;; esac; \
	fi
endef

# The check path runs its modules from their timestamp .pyc files (DEVELOPERS.md, "The check path");
# write them now: an environment with PYTHONDONTWRITEBYTECODE=1 (CI's) would otherwise leave the first
# checks importing from source, and SOURCE_DATE_EPOCH would make them hash-based, which it does not read.
compile_pyc = $(BIN)/python -m compileall -q --invalidation-mode timestamp src/healthgauge

# The demo needs the package and its three dependencies only, not the development toolchain:
# a first `make demo` on a fresh clone installs just those (`make install` adds the rest later).
$(VENV)/.demo: pyproject.toml scripts/healthgauge Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	$(fast_launcher)
	@touch $@

system-deps:
	@missing=0; for c in $(DEB_COMMANDS); do command -v $$c >/dev/null || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make test needs the Debian packages: $(DEB_PACKAGES) (run as root)"; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEB_PACKAGES); \
	fi

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check --quiet src tests bench examples

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -m "not real"

test: install system-deps lint typecheck
	$(BIN)/pytest

demo: $(VENV)/.demo
	$(BIN)/healthgauge demo $(DEMO_ARGS)

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache .hypothesis

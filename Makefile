# kboot: `make demo` runs the end-to-end job, `make test` runs the tests. Both install what
# is missing first (Debian packages as root, npm ci, the native addon, the TypeScript
# build) and do nothing extra when it is all there.
.DEFAULT_GOAL := build
SHELL := /bin/bash
NPM_BIN := node_modules/.bin
STAMP := .make
TS_SOURCES := $(shell find loader native kernels machine rescue dump compare scenario sysprobe host cli bench test -name '*.ts' 2>/dev/null) tsconfig.json
NATIVE_SOURCES := $(wildcard native/*.cc native/*.h) binding.gyp

.PHONY: build deps demo test lint typecheck format bench ci clean

$(STAMP)/apt: scripts/ensure-deps.sh
	@mkdir -p $(STAMP)
	@scripts/ensure-deps.sh
	@touch $@

# npm ci also builds the addon (the package's install script runs node-gyp).
$(STAMP)/npm: package.json package-lock.json $(STAMP)/apt
	@echo "kboot: npm ci"
	@npm ci --no-audit --no-fund --loglevel=error
	@$(NPM_BIN)/tap build >/dev/null
	@touch $@

build/Release/kboot.node: $(NATIVE_SOURCES) | $(STAMP)/npm
	@echo "kboot: building the native addon"
	@npm run --silent install --loglevel=error >/dev/null
	@touch $@

$(STAMP)/tsc: $(TS_SOURCES) | $(STAMP)/npm
	@echo "kboot: compiling TypeScript"
	@$(NPM_BIN)/tsc -p tsconfig.json
	@touch $@

deps: $(STAMP)/apt $(STAMP)/npm
build: deps build/Release/kboot.node $(STAMP)/tsc

# `kboot demo`: build a probe rescue kernel, boot the default machine, arm it with kexec_load,
# panic, run the D47358 hand-off on the emulated CPU, write and verify vmcore.N in $(DEMO_OUT)
# (never overwriting: a second run writes vmcore.1), then compare embed / KLD / kexec.
# `build` first installs what is missing (Debian packages, npm ci, the addon, the TypeScript).
DEMO_OUT := demo-out
DEMO_ARCH ?= amd64
demo: build
	@node dist/cli/main.js demo --arch $(DEMO_ARCH) --out $(DEMO_OUT)

test: build
	@node scripts/run-tests.mjs

typecheck: deps
	@$(NPM_BIN)/tsc -p tsconfig.json --noEmit

# ESLint and Prettier for the TypeScript; no C++ function over 100 lines (universal-ctags); the
# address-brand cast budget (scripts/count-casts.mjs).
lint: deps
	@$(NPM_BIN)/depcruise $(wildcard loader native kernels machine dump rescue compare scenario sysprobe host cli) bench test --config .dependency-cruiser.cjs --output-type err
	@$(NPM_BIN)/eslint .
	@$(NPM_BIN)/prettier --check . --log-level=warn
	@node scripts/check-function-length.mjs --max 100
	@node scripts/count-casts.mjs --quiet

format: deps
	@$(NPM_BIN)/prettier --write . --log-level=warn

bench: build
	@node dist/bench/run.js

clean:
	rm -rf dist build $(STAMP) .tap coverage $(DEMO_OUT)

# kboot: `make demo` runs the end-to-end job, `make test` runs the tests. Both install what
# is missing first (Debian packages as root, npm ci, the native addon, the TypeScript
# build) and do nothing extra when it is all there.
.DEFAULT_GOAL := build
SHELL := /bin/bash
NPM_BIN := node_modules/.bin
STAMP := .make
TS_SOURCES := $(shell find loader machine rescue dump compare cli bench test -name '*.ts' 2>/dev/null) tsconfig.json
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
	@$(NPM_BIN)/node-gyp rebuild --loglevel=error >/dev/null
	@touch $@

$(STAMP)/tsc: $(TS_SOURCES) | $(STAMP)/npm
	@echo "kboot: compiling TypeScript"
	@$(NPM_BIN)/tsc -p tsconfig.json
	@touch $@

deps: $(STAMP)/apt $(STAMP)/npm
build: deps build/Release/kboot.node $(STAMP)/tsc

# Until `kboot demo` exists: build a probe rescue kernel, plan its reservation on the default
# machine, and run the D47358 hand-off (panic -> rescue_kernel_exec -> rescue kernel) on the
# emulated CPU, then a loader.kboot-style kexec of a probe kernel.
DEMO_OUT := demo-out
demo: build
	@node dist/cli/main.js --version
	@mkdir -p $(DEMO_OUT)
	@node dist/cli/main.js probe-kernel --arch amd64 --mode rescue -o $(DEMO_OUT)/rescue-probe.elf --force
	@node dist/cli/main.js plan --crash $(DEMO_OUT)/rescue-probe.elf
	@node dist/cli/main.js exec --crash --trace $(DEMO_OUT)/rescue-probe.elf
	@node dist/cli/main.js probe-kernel --arch arm64 --mode kexec -o $(DEMO_OUT)/kexec-probe.elf --force
	@node dist/cli/main.js exec --trace $(DEMO_OUT)/kexec-probe.elf

test: build
	@node scripts/run-tests.mjs

typecheck: deps
	@$(NPM_BIN)/tsc -p tsconfig.json --noEmit

lint: deps
	@$(NPM_BIN)/eslint .
	@$(NPM_BIN)/prettier --check . --log-level=warn

format: deps
	@$(NPM_BIN)/prettier --write . --log-level=warn

bench: build
	@node dist/bench/run.js

clean:
	rm -rf dist build $(STAMP) .tap coverage $(DEMO_OUT)

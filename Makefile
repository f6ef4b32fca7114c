# mcpgw: `make run` and `make test` work on a fresh Debian 12 machine with nothing installed.
SHELL := /bin/bash
BUILD_DIR ?= build
PREFIX ?= /usr/local
ASAN_DIR ?= build-asan
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG ?= examples/mcpgw.json
LISTEN ?= 127.0.0.1:8080

# Debian packages the build and the tests need. PostgreSQL is for the PostgreSQL-over-SSE test, which
# starts its own throwaway cluster, and nginx balances the cluster test's replicas: the packages'
# own services are not started while installing (policy-rc.d), so nothing listens on 5432 or 80
# because of them.
APT_PACKAGES := g++ cmake ninja-build ccache pkg-config \
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
  libssl-dev libsqlite3-dev libre2-dev libspdlog-dev libfmt-dev libcli11-dev libgtest-dev libyaml-cpp-dev libicu-dev \
  libjemalloc-dev clang-14 libclang-rt-14-dev \
  curl procps openssl postgresql python3 prometheus dpkg-dev file systemd chromium nginx \
  redis-server libhiredis-dev libpq-dev

# Node 22 (from npm) runs the example servers, the integration tests and the conformance suite.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: all deps apt-deps npm-deps build build-asan run test unit-test check-config clean install deb \
  bench bench-cluster bench-peers bench-deps bench-peer-deps fuzz soak

all: build

deps: apt-deps npm-deps

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq || exit 1; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
	    $(SUDO) chmod +x /usr/sbin/policy-rc.d; added=1; fi; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; rc=$$?; \
	  [ -n "$$added" ] && $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi
	@# Any Node.js with npm will do to run `npm ci`; the tests then use Node 22 from npm.
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }

# Claude Code 2.1.49 (the field report's version) lives apart: both it and the latest install
# a `claude` bin. So does the Claude Agent SDK: it wants zod 4 as a peer, the rest zod 3.
CLAUDE_2149 := test/clients/claude-2.1.49
AGENT_SDK := test/clients/agent-sdk

npm-deps: node_modules/.package-lock.json $(CLAUDE_2149)/node_modules/.package-lock.json \
  $(AGENT_SDK)/node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CLAUDE_2149)/node_modules/.package-lock.json: $(CLAUDE_2149)/package.json $(CLAUDE_2149)/package-lock.json
	npm ci --prefix $(CLAUDE_2149) --no-audit --no-fund --loglevel=error
	@touch $@

$(AGENT_SDK)/node_modules/.package-lock.json: $(AGENT_SDK)/package.json $(AGENT_SDK)/package-lock.json
	npm ci --prefix $(AGENT_SDK) --no-audit --no-fund --loglevel=error
	@touch $@

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: apt-deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

$(ASAN_DIR)/build.ninja:
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMCPGW_SANITIZE=ON

build-asan: apt-deps $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j $(JOBS)

# `make install PREFIX=/opt/mcpgw` (DESTDIR is honoured): the stripped gateway, the demo server,
# the default config and the systemd unit, their paths made for that prefix.
install: build
	cmake -S . -B $(BUILD_DIR) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	$(SUDO) cmake --install $(BUILD_DIR) --strip

# `make deb`: $(BUILD_DIR)/mcpgw_<version>_<arch>.deb, for /usr, with its library dependencies.
deb: build
	cmake -S . -B $(BUILD_DIR) -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	cd $(BUILD_DIR) && cpack -G DEB

run: deps build
	./$(BUILD_DIR)/mcpgw check-config --no-start $(CONFIG)
	exec ./$(BUILD_DIR)/mcpgw serve --config $(CONFIG) --listen $(LISTEN)

check-config: build
	./$(BUILD_DIR)/mcpgw check-config $(CONFIG)

unit-test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# Everything: unit tests, integration tests with the official TypeScript SDK, the official
# conformance suite, unit + integration tests again under ASan+UBSan, and each fuzzer for
# FUZZ_TEST_SECONDS on its corpus.
FUZZ_TEST_SECONDS ?= 20
test: deps build build-asan deb
	BUILD_DIR=$(BUILD_DIR) ASAN_DIR=$(ASAN_DIR) FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) scripts/run_tests.sh

# The libFuzzer harnesses (clang, ASan+UBSan), FUZZ_SECONDS each (docs/reliability.md).
FUZZ_SECONDS ?= 300
fuzz: apt-deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

# The fault and soak suite: SOAK_MINUTES of mixed clients, killed and hung servers, slow readers
# and session churn against one gateway (docs/reliability.md). Not part of `make test`.
SOAK_MINUTES ?= 30
soak: deps build
	node test/soak/soak.mjs --minutes $(SOAK_MINUTES)

# Benchmarks (see docs/performance.md). wrk drives the load; `bench-peers` also needs nginx and
# the peer gateways from npm (bench/peers, pinned).
bench-deps:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }

bench-peer-deps: bench-deps bench/peers/node_modules/.package-lock.json
	@# nginx is only run by the benchmark, on loopback: keep the package from starting a system
	@# nginx on port 80 while it installs.
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  $(SUDO) apt-get update -qq; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
	    $(SUDO) chmod +x /usr/sbin/policy-rc.d; added=1; fi; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light; rc=$$?; \
	  [ -n "$$added" ] && $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; }

bench/peers/node_modules/.package-lock.json: bench/peers/package.json bench/peers/package-lock.json
	cd bench/peers && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bench: deps build bench-deps
	node bench/bench.mjs

# Replicas behind nginx round-robin sharing the gate's state in Redis (docs/scale-out.md): one
# replica against three, calls/s and Redis commands per call (bench/cluster.mjs).
bench-cluster: deps build bench-deps
	node bench/cluster.mjs

bench-peers: deps build bench-peer-deps
	PATH="$$PATH:/usr/sbin" node bench/bench.mjs --peers --rounds 3

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) build-fuzz

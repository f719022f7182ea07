# Spyglass. `make run` serves the embedded default; `make test` installs what
# the tests need (real Glance, the oracle) and runs them.

# Go lives in /usr/local/go on the project's machines; a Go already on PATH
# comes after it.
export PATH := /usr/local/go/bin:$(PATH)
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
LISTEN   ?= 127.0.0.1:9292
DATA_DIR ?= ./data
TEST_TIMEOUT ?= 20m
# The federation package's long walks (make bench-quick) took 8 minutes on a
# quiet 2-core machine and over 30 beside other test runs.
BENCH_TIMEOUT ?= 45m
FUZZTIME ?= 15s

.PHONY: all build run test vet deps deps-bench conformance conformance-glance tempest fuzz bench bench-quick bench-system clean help

all: build

help:
	@echo "make run          build and serve the Images API on $(LISTEN), data in $(DATA_DIR)"
	@echo "make test         install test dependencies (make deps), go vet, go test -race (not the conformance suite), the allocation tests without -race"
	@echo "make bench-quick  the benchmark-sized correctness scenarios (bench/ Quick runs, blob storms), SPYGLASS_BENCH=1"
	@echo "make build        bin/spyglass, version $(VERSION)"
	@echo "make conformance  differential suite: Spyglass against a real Glance, legacy and current policy"
	@echo "make conformance-glance  the same with Spyglass in front of a second Glance"
	@echo "make tempest      Tempest's image API tests against Spyglass (and a real Glance) with a real Keystone; TEMPEST_PROFILES=$(TEMPEST_PROFILES)"
	@echo "make fuzz         every FuzzXxx for FUZZTIME=$(FUZZTIME) each"
	@echo "make bench        go benchmarks; SYSTEM=1 adds the bench/ scenarios (make bench-system)"

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/spyglass ./cmd/spyglass

run: build
	@echo
	@echo "Spyglass $(VERSION): Images API on http://$(LISTEN), embedded store in $(DATA_DIR), auth noauth"
	@echo "Talk to it:"
	@echo "  curl http://$(LISTEN)/versions"
	@echo "  curl http://$(LISTEN)/v2/images"
	@echo "  curl -X POST -H 'Content-Type: application/json' -d '{\"name\": \"cirros\", \"disk_format\": \"qcow2\", \"container_format\": \"bare\"}' http://$(LISTEN)/v2/images"
	@echo "  curl -X PUT -H 'Content-Type: application/octet-stream' --data-binary @cirros.img http://$(LISTEN)/v2/images/<id>/file"
	@echo "  openstack --os-auth-type none --os-endpoint http://$(LISTEN) image list"
	@echo "  glance --os-image-url http://$(LISTEN) --os-auth-token x image-list"
	@echo "With --auth trusted (behind a proxy that authenticates), send the identity as headers:"
	@echo "  curl -H 'X-Identity-Status: Confirmed' -H 'X-User-Id: alice' -H 'X-Project-Id: demo' -H 'X-Roles: admin,member' http://$(LISTEN)/v2/images"
	@echo "Stop with Ctrl-C (uploads in flight are allowed to finish)."
	@echo
	./bin/spyglass serve --listen $(LISTEN) --data-dir $(DATA_DIR)

vet:
	$(GO) vet ./...

# The packages with zero-allocation tests (a TestXxx whose name holds
# Alloc, what -run 'Alloc' picks): the race-free pass builds and runs only
# their test binaries, not every package's.
ALLOC_PKGS = $(shell grep -rlE --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata '^func Test[A-Za-z0-9_]*Alloc' . | xargs -r -n1 dirname | sort -u)

# go vet compiles every package's tests, gateway/conformance's included;
# that suite runs in make conformance and conformance-glance (three times,
# without -race), not here. The zero-allocation tests (named ...Alloc...,
# some in files built only without -race, which adds allocations) run in
# a second, race-free pass over ALLOC_PKGS, beside the -race pass (they
# count allocations, not time, so its load does not matter to them); their
# output follows the -race pass's. The benchmark-sized scenarios are make
# bench-quick's (SPYGLASS_BENCH=1); CI runs that target too. When the
# -race pass fails, its failing tests and its first data race report are
# repeated last: a log's tail (what CI keeps) then shows both stacks, not
# the end of the report alone.
test: deps
	$(GO) vet ./...
	@test -n "$(strip $(ALLOC_PKGS))" || { echo "make test: no allocation tests found (func Test...Alloc... in a _test.go file)" >&2; exit 1; }
	@echo "$(GO) test -count=1 -run 'Alloc' $(ALLOC_PKGS) (beside the -race pass; its output after it)"
	@alloc_log=$$(mktemp) && race_log=$$(mktemp) && race_rc=$$(mktemp) && \
	{ $(GO) test -count=1 -run 'Alloc' $(ALLOC_PKGS) > $$alloc_log 2>&1 & alloc=$$!; } && \
	echo "$(GO) test -race -timeout $(TEST_TIMEOUT) <every package but gateway/conformance>" && \
	{ $(GO) test -race -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v '/gateway/conformance$$') 2>&1; echo $$? > $$race_rc; } | tee $$race_log; \
	race=$$(cat $$race_rc); \
	wait $$alloc; alloc_rc=$$?; \
	echo "==== the allocation tests (without -race; exit $$alloc_rc):"; cat $$alloc_log; \
	if [ "$$race" -ne 0 ]; then \
	  echo "==== the -race pass failed (exit $$race); its failing tests:"; grep -E -- '^\s*--- FAIL' $$race_log; \
	  if grep -q 'WARNING: DATA RACE' $$race_log; then \
	    echo "==== its first data race report, again:"; \
	    awk '/^WARNING: DATA RACE/ {on=1} on {print} on && /^==================$$/ {exit}' $$race_log; \
	  fi; \
	fi; \
	rm -f $$alloc_log $$race_log $$race_rc; \
	[ "$$race" -eq 0 ] && [ $$alloc_rc -eq 0 ]

# Both policy modes: Spyglass's legacy defaults against a stock Glance 25,
# its current (secure-RBAC) defaults against Glance with
# enforce_new_defaults; each runs the differential script and the
# isolation property test.
conformance: deps
	CONFORMANCE_POLICY=legacy $(GO) test ./gateway/conformance/ -count=1 -v -timeout $(TEST_TIMEOUT)
	CONFORMANCE_POLICY=current $(GO) test ./gateway/conformance/ -count=1 -v -timeout $(TEST_TIMEOUT)

# The same suite with Spyglass in front of a second real Glance (its one
# region, kind glance) instead of the embedded store.
conformance-glance: deps
	CONFORMANCE_BACKEND=glance $(GO) test ./gateway/conformance/ -count=1 -v -timeout $(TEST_TIMEOUT)

# Tempest's image API tests (Debian's python3-tempest 33) against each
# profile of TEMPEST_PROFILES (embedded: Spyglass on its embedded store;
# regions: Spyglass over two real Glance regions; glance: a real Glance,
# the reference), all with a real Keystone. Fails on a failure not in
# cmd/spyglass/testdata/tempest/expected-failures-<profile>.txt and on a
# listed test that did not fail; results in bin/tempest/<profile>/.
# The real Glances load glance-common's metadefs (python3-glance lacks
# them), taken from the package without installing it.
TEMPEST_PROFILES ?= embedded,regions,glance
TEMPEST_TIMEOUT ?= 60m
TEMPEST_METADEFS := $(CURDIR)/bin/tempest/metadefs
tempest: deps
	$(call need,test -x /usr/bin/tempest,python3-tempest)
	$(call need,/usr/bin/python3 -c 'import keystonemiddleware',python3-keystonemiddleware)
	@if [ ! -f $(TEMPEST_METADEFS)/compute-cpu-pinning.json ]; then \
	  echo "tempest: extracting glance-common's metadefs into $(TEMPEST_METADEFS)"; \
	  rm -rf bin/tempest/deb && mkdir -p bin/tempest/deb && cd bin/tempest/deb && \
	  { apt-get download glance-common </dev/null || { apt-get update </dev/null && apt-get download glance-common </dev/null; }; } && \
	  dpkg-deb -x glance-common_*.deb x && rm -rf $(TEMPEST_METADEFS) && mv x/usr/share/glance-common/metadefs $(TEMPEST_METADEFS) && cd .. && rm -rf deb \
	  || { echo "tempest: cannot get glance-common's metadefs (apt-get download glance-common; dpkg-deb -x); the reference Glance needs them" >&2; exit 1; }; \
	fi
	SPYGLASS_TEMPEST=$(TEMPEST_PROFILES) SPYGLASS_TEMPEST_OUT=$(CURDIR)/bin/tempest SPYGLASS_TEMPEST_METADEFS=$(TEMPEST_METADEFS) $(GO) test -count=1 -v -timeout $(TEMPEST_TIMEOUT) -run '^TestTempest$$' ./cmd/spyglass/

# need PROBE, PACKAGE: installs PACKAGE with apt-get when PROBE (a shell
# command) fails. Never skips: without root or apt, it stops and says what
# to install. apt-get update runs only when the plain install fails (a fresh
# container has no package lists; a warm one needs no network round trip).
define need
	@if ! $(1) >/dev/null 2>&1; then \
	  echo "deps: $(2) is missing ($(1) fails); installing it"; \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "deps: cannot install $(2): need root and apt-get. Install it yourself: sudo apt-get install -y --no-install-recommends $(2)" >&2; \
	    exit 1; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends $(2) </dev/null \
	  || { apt-get update </dev/null && apt-get install -y --no-install-recommends $(2) </dev/null; } \
	  || { echo "deps: apt-get install $(2) failed; install it by hand: apt-get update && apt-get install -y --no-install-recommends $(2)" >&2; exit 1; }; \
	  if ! $(1) >/dev/null 2>&1; then echo "deps: $(2) installed but $(1) still fails" >&2; exit 1; fi; \
	fi
endef

# The real Glance is the tests' oracle (backends/glance/glancetest). It must
# be Debian's /usr/bin/python3: a python3 earlier on PATH may not see Debian
# packages.
# go test -race needs cgo, hence a C compiler; without one Go quietly
# disables cgo and -race fails.
deps:
	$(call need,/usr/bin/python3 -c 'import glance',python3-glance)
	$(call need,command -v gcc,gcc libc6-dev)
	$(call need,test -x /usr/bin/glance,python3-glanceclient)
	$(call need,command -v nginx,nginx-light)
	$(call need,/usr/bin/python3 -c 'import keystone',python3-keystone)
	$(call need,test -x /usr/bin/uwsgi-core,uwsgi-core)
	$(call need,test -f /usr/lib/uwsgi/plugins/python3_plugin.so,uwsgi-plugin-python3)
	$(call need,test -x /usr/bin/openstack,python3-openstackclient)
	$(call need,command -v redis-server,redis-server)
	$(call need,command -v wrk,wrk)
	$(call need,command -v msgfmt,gettext)
	$(call need,/usr/bin/python3 -c 'import webob',python3-webob)
	@echo "deps: ok (python3-glance, gcc, python3-glanceclient, nginx-light, python3-keystone, uwsgi-core, uwsgi-plugin-python3, python3-openstackclient, redis-server, wrk, gettext, python3-webob)"

deps-bench: deps
	$(call need,command -v redis-server,redis-server)
	$(call need,command -v wrk,wrk)
	$(call need,command -v nginx,nginx-light)
	$(call need,test -x /usr/sbin/varnishd,varnish)
	@echo "deps-bench: ok (redis-server, wrk, nginx-light, varnish)"

# Each FuzzXxx of each package, one at a time (go test -fuzz takes one
# target per run).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  list=$$($(GO) test -list 'Fuzz.*' $$pkg) || { echo "$$list"; exit 1; }; \
	  for f in $$(echo "$$list" | grep '^Fuzz'); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Function benchmarks always; the whole-system scenarios of bench/ (which
# install redis-server, wrk and nginx and take minutes) only when asked:
# `make bench SYSTEM=1` or `make bench-system`.
bench: bench-quick
	$(GO) test -bench . -benchmem -run '^$$' ./...
	@if [ -n "$(SYSTEM)" ]; then $(MAKE) -C . bench-system; \
	else echo "bench: whole-system scenarios not run; run them with: make bench SYSTEM=1 (or make bench-system)"; fi

# Tests that load the system like a benchmark (storms, the bench/
# scenarios run small, the federation walk at full size) and check what
# it serves: too slow under -race for make test, which skips them (or
# runs the walk smaller) saying so; run here without -race.
bench-quick: deps-bench
	SPYGLASS_BENCH=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'Quick' ./bench/
	SPYGLASS_BENCH=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'Storm' ./cache/blob/
	SPYGLASS_BENCH=1 $(GO) test -count=1 -timeout $(BENCH_TIMEOUT) -run '^(TestFederationOverGlanceRegions|TestHostileTenant|TestMergedListingOverEmbeddedRegions|TestOneImageOneEntryAcrossPages)$$' ./federation/

BENCH_ARGS ?=
bench-system: deps-bench build
	$(GO) run ./bench $(BENCH_ARGS)

clean:
	rm -rf bin

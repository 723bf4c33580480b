# The one command a newcomer runs: `make test` (installs what the tests need, builds, runs all).
.PHONY: all build deps test test-unit test-integration test-e2e guest bench typecheck clean

all: build

node_modules: package.json package-lock.json
	npm ci
	@touch node_modules

build: node_modules
	npx tsc -p tsconfig.build.json

typecheck: node_modules
	npx tsc -p tsconfig.json --noEmit

# Debian packages (root): QEMU, OVMF, dnsmasq, iptables, passt, swtpm, the guest builder's tools,
# Chromium, Docker.
deps:
	scripts/setup-test-host.sh

# The test guest (a tiny Debian kernel + busybox disk), built once and cached.
guest: deps
	test/fixtures/guest/build-guest.sh

# The projects run one after the other: integration and e2e tests boot VMs under TCG, and two
# of them at once on a 2-core machine only makes both slow. Every project runs even when an
# earlier one failed, so one run shows every failure.
test: deps node_modules guest typecheck
	@status=0; for project in unit integration e2e; do \
	  npx vitest run --project $$project || status=1; \
	done; exit $$status

test-unit: node_modules
	npx vitest run --project unit

test-integration: deps node_modules guest
	npx vitest run --project integration

test-e2e: deps node_modules guest
	npx vitest run --project e2e

bench: build guest
	node bench/supervisor.mjs

clean:
	rm -rf dist node_modules/.cache test-artifacts

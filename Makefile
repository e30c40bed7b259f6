# The two commands of the README. Everything else is CMake presets (CMakePresets.json).
JOBS ?= $(shell nproc)
DATA ?= ./data

.PHONY: run sandbox test build setup test-setup test-release test-asan test-fuzz clean

## make run: install what is missing, build (release), start zapd with SQLite in ./data
run: build
	./build/release/apps/zapd/zapd --data-dir $(DATA)

## make sandbox: the same, with an embedded simulated WhatsApp network (docs/sandbox.md); admin token sandbox-admin
sandbox: build
	./build/release/apps/zapd/zapd --sandbox --data-dir $(DATA)-sandbox --admin-token sandbox-admin --webhook-allow-http on

setup:
	bash scripts/setup.sh

build: setup
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target zapd

## make test: install, build, and run every suite: release (all labels), ASan+UBSan (unit, oracle, engine and gateway tests), fuzz smoke
test: test-release test-asan test-fuzz
	@echo "make test: all suites passed"

test-setup:
	bash scripts/setup.sh --tests

test-release: test-setup
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j $(JOBS)

test-asan: test-setup
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS) --target wa_core_test wa_wire_test wa_crypto_test wa_noise_test wa_signal_test wa_store_sqlite_test wa_qr_test wa_protocol_test wa_sim_test wa_webhook_test wa_service_test wa_gateway_test wa_store_pg_tests wa-oracle wasim wa-engine zapd
	ctest --preset asan -j $(JOBS)

test-fuzz: test-setup
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)
	ctest --preset fuzz

clean:
	rm -rf build

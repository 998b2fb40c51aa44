# nim-scaler: the two commands are `make demo` and `make test`. Both install what is
# missing (Debian 12 packages via scripts/install-deps.sh) and build first.
BUILD ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
PY := /usr/bin/python3

.PHONY: all deps configure build test unit demo demo-small bench bench-scaling fuzz soak sanitize clean help

all: build

help:
	@echo "make demo   install deps, build, run the demo (emulated NIM pod under load, scaled by nim-scaler)"
	@echo "make test   install deps, build, run every test (ctest, fuzzers for a bounded time)"
	@echo "make build  install deps and build into $(BUILD)/ (binary: $(BUILD)/scaler/nim-scaler)"
	@echo "make bench  run the benchmarks and print their tables"
	@echo "make bench-scaling  scaling scenarios x policies on a simulated clock (demo-out/scaling-*.svg, about a minute)"
	@echo "make soak   10-minute soak of the real server under pod churn (SOAK_MINUTES=n to shorten; not in make test)"
	@echo "make sanitize  ASan+UBSan build in build-asan/, then the conformance and faults suites under it"

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DNIMSCALER_BUILD_TESTS=ON $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# Every test: unit and integration suites through ctest, then the bounded fuzz runs. The fuzzers'
# clang build runs at the lowest priority while ctest does (most of ctest's time is serial suites
# waiting on timers, so the cores are mostly idle): it takes only CPU the tests leave, and `make
# fuzz` afterwards finds it done.
test: build
	@mkdir -p $(BUILD)
	@FUZZ_ROOT="$(CURDIR)" nice -n 19 bash -c 'source scripts/fuzz-lib.sh; fuzz_build "make test" fuzzers' \
	  > $(BUILD)/fuzz-build-early.log 2>&1 & fuzz_build=$$!; \
	  (cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900); rc=$$?; \
	  if ! wait $$fuzz_build; then cat $(BUILD)/fuzz-build-early.log; exit 1; fi; \
	  test $$rc -eq 0
	$(MAKE) --no-print-directory fuzz

unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900

FUZZ_SECONDS ?= 20
# The fuzzers are CMake targets (tests/fuzz/CMakeLists.txt) in build-fuzz/, built by clang once;
# then the formula fuzzer and the others run side by side (each is one process on one core); the
# formula run's output is shown after the others'.
fuzz:
	@mkdir -p $(BUILD)
	@bash -c 'FUZZ_ROOT="$(CURDIR)"; source scripts/fuzz-lib.sh; fuzz_build "make fuzz" fuzzers'
	@FUZZ_PREBUILT=1 bash scripts/fuzz-formula.sh $(FUZZ_SECONDS) > $(BUILD)/fuzz-formula.log 2>&1 & pid=$$!; \
	  FUZZ_PREBUILT=1 bash scripts/run-fuzz.sh $(FUZZ_SECONDS); rc=$$?; \
	  wait $$pid; frc=$$?; \
	  if [ $$frc -ne 0 ]; then cat $(BUILD)/fuzz-formula.log; else tail -n 3 $(BUILD)/fuzz-formula.log; fi; \
	  test $$rc -eq 0 && test $$frc -eq 0

# The article's experiment on an emulated cluster: ends by itself in about two minutes and
# leaves demo-out/timeline.svg, timeline.csv and summary.txt.
demo: build
	$(BUILD)/tools/demo/nim-demo --out demo-out

# Scaling scenarios (issue 13 item 3): the article's steps, a burst, a slow ramp, idle -> burst
# and long-context requests, each under the article's HPA setup and nim-scaler's policies, on a
# simulated clock (about a minute on 2 cores). Writes demo-out/scaling-summary.txt and one SVG
# and CSV per scenario.
bench-scaling: configure
	cmake --build $(BUILD) -j$(JOBS) --target nim-bench-scaling
	$(BUILD)/tools/demo/nim-bench-scaling --out demo-out --jobs $(JOBS)

# The single-pod walkthrough: what KEDA sees, call by call.
demo-small: build
	$(PY) scripts/demo-small.py $(BUILD)

bench: build
	bash scripts/bench-exposition.sh
	bash scripts/bench-collect.sh $(BUILD)
	bash scripts/bench-grpc.sh $(BUILD)
	bash scripts/bench-ha.sh

# Soak (issue 19): 300 triggers over 30 pods killed and restarted at random, 50 callers and 20
# streams against the real binary for SOAK_MINUTES (default 10); exits 1 on any violation.
SOAK_MINUTES ?= 10
soak: configure
	cmake --build $(BUILD) -j$(JOBS) --target nim-scaler
	SOAK_MINUTES=$(SOAK_MINUTES) $(PY) scripts/soak.py --binary $(BUILD)/scaler/nim-scaler

# ASan+UBSan (LSan on) build in build-asan/, then the conformance and faults suites under it.
sanitize: deps
	JOBS=$(JOBS) bash scripts/sanitize.sh

clean:
	rm -rf $(BUILD)

# Two commands do everything on a fresh Debian 12 machine: `make run` and `make test`.
JOBS ?= $(shell nproc)
RELEASE := build/release
DEBUG := build/debug
CMAKE_GEN := -G Ninja

.PHONY: deps build run test tsan bench fuzz crash-trials soak format clean

deps:
	@scripts/install-deps

$(RELEASE)/build.ninja: | deps
	cmake -S . -B $(RELEASE) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DCONFAB_TESTS=OFF

build: deps $(RELEASE)/build.ninja
	cmake --build $(RELEASE) -j $(JOBS)

run: build
	$(RELEASE)/confab serve $(ARGS)

$(DEBUG)/build.ninja: | deps
	cmake -S . -B $(DEBUG) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DCONFAB_SANITIZE=ON -DCONFAB_BENCH=OFF

# The whole suite: unit, fuzz-corpus replay and integration tests against the ASan+UBSan binary.
test: deps $(DEBUG)/build.ninja
	cmake --build $(DEBUG) -j $(JOBS)
	ctest --test-dir $(DEBUG) --output-on-failure -j $(JOBS)

TSAN := build/tsan
# Reports make a process exit 66; the integration harness also fails any test whose server log
# holds a "WARNING: ThreadSanitizer" report (a SIGKILLed server has no exit code to judge).
TSAN_OPTIONS ?= exitcode=66:second_deadlock_stack=1:history_size=4
$(TSAN)/build.ninja: | deps
	cmake -S . -B $(TSAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DCONFAB_TSAN=ON -DCONFAB_BENCH=OFF

# The same suite (unit, fuzz-corpus replay, integration) against a ThreadSanitizer build.
tsan: deps $(TSAN)/build.ninja
	cmake --build $(TSAN) -j $(JOBS)
	TSAN_OPTIONS=$(TSAN_OPTIONS) ctest --test-dir $(TSAN) --output-on-failure -j $(JOBS)

# Every fuzz target in turn (clang, libFuzzer, ASan+UBSan in build/fuzz) for FUZZ_SECONDS each;
# new coverage is merged into fuzz/corpus/<target>. FUZZ_RUNS=N stops a target at N executions.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) scripts/fuzz

# SIGKILL trials over every kind of write against the release binary (docs/reliability.md).
TRIALS ?= 50
crash-trials: build
	scripts/crash-trials $(TRIALS)

# Media churn + event sockets + REST against the release binary for DURATION seconds.
DURATION ?= 300
soak: build
	bench/soak/soak.py --duration $(DURATION) $(SOAK_ARGS)

bench: build
	bench/run.sh
	bench/media/run.sh
	bench/sip/run.py

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build

# Two commands do everything on a fresh Debian 12 machine: `make run` and `make test`.
JOBS ?= $(shell nproc)
RELEASE := build/release
DEBUG := build/debug
CMAKE_GEN := -G Ninja

.PHONY: deps build run test bench fuzz format clean

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

bench: build
	bench/run.sh
	bench/media/run.sh

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build

# The README's two commands: `make demo` and `make test`.
# SANITIZE=1 builds with ASan+UBSan (CI does; without the benchmarks, which `make test` and
# `make bench` build); BUILD_DIR picks the build tree.
SANITIZE ?= 0
BUILD_TYPE ?= RelWithDebInfo
BUILD_DIR ?= build$(if $(filter 1,$(SANITIZE)),-asan,)
JOBS ?= $(shell nproc)

.PHONY: all bootstrap build deps-check demo test bench bench-search bench-portal fuzz lint format clean

all: build

bootstrap:
	@scripts/bootstrap.sh

$(BUILD_DIR)/build.ninja:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DVERBATIM_SANITIZE=$(if $(filter 1,$(SANITIZE)),ON,OFF) \
	  $(if $(filter 1,$(SANITIZE)),-DVERBATIM_BENCH=OFF,) >/dev/null

build: bootstrap $(BUILD_DIR)/build.ninja
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Would a fresh Debian 12 machine have every package this build used? (the workplace's
# deps-check beside the checkout compares the headers and libraries of BUILD_DIR with the
# bootstrap list; CI runs it after the build).
DEPS_CHECK ?= ../shared/tools/deps-check
deps-check: build
	@if [ -x $(DEPS_CHECK) ]; then $(DEPS_CHECK) $(BUILD_DIR); \
	else echo "deps-check: $(DEPS_CHECK) not found beside this checkout; skipped"; fi

demo: build
	@scripts/demo.sh $(BUILD_DIR)/verbatim

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

bench: bootstrap
	@cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-bench -j $(JOBS) --target bench_policy_decision bench_archive bench_sip_parse \
	  bench_playback bench_conference_mix bench_webrtc bench_s3 bench_hsm
	@taskset -c 1 build-bench/bench_conference_mix --benchmark_counters_tabular=true
	@taskset -c 1 build-bench/bench_playback --benchmark_counters_tabular=true
	@taskset -c 1 build-bench/bench_sip_parse
	@taskset -c 1 build-bench/bench_webrtc --benchmark_counters_tabular=true
	@cmake --build build-bench -j $(JOBS) --target vb_sip_peer
	@python3 bench/sip_load.py build-bench
	@taskset -c 1 build-bench/bench_archive
	@build-bench/bench_s3
	@taskset -c 1 build-bench/bench_hsm
	@taskset -c 1 build-bench/bench_policy_decision --benchmark_counters_tabular=true
	@cmake --build build-bench -j $(JOBS) --target verbatim bench_recorder_load
	@build-bench/bench_recorder_load --bin build-bench/verbatim --work /tmp/vb_recorder_load
	@python3 bench/gateway_load.py build-bench
	@python3 bench/meeting_join.py build-bench
	@python3 bench/meeting_video.py build-bench
	@python3 bench/meeting_audio.py build-bench

# Search at archive scale (issue 17): generates SEARCH_INTERACTIONS synthetic interactions once
# (kept in build-bench/, several GB at 10 million; an hour to make) and times the query mix.
SEARCH_INTERACTIONS ?= 10000000
bench-search: bootstrap
	@cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-bench -j $(JOBS) --target bench_search
	@taskset -c 1 build-bench/bench_search --interactions $(SEARCH_INTERACTIONS) \
	  --db build-bench/search-bench-$(SEARCH_INTERACTIONS).db

# The same archive through the portal in Chromium (issue 18): serve on it, the query mix timed in
# the browser. Run bench-search first (it makes the archive).
bench-portal: bootstrap
	@cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-bench -j $(JOBS) --target verbatim portal bench_search
	@python3 bench/portal_search.py --build build-bench --bench build-bench \
	  --db build-bench/search-bench-$(SEARCH_INTERACTIONS).db

# libFuzzer targets (clang). FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 30
fuzz: bootstrap
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# clang-tidy checks the unity batches of a tree configured for it (nothing is compiled there;
# clang-tidy needs only its compile_commands.json and the batch files CMake writes).
lint: bootstrap
	@cmake -S . -B build-lint -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DVERBATIM_UNITY=ON >/dev/null
	@scripts/lint.sh build-lint

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build build-asan build-bench build-fuzz

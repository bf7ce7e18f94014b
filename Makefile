# The two commands of the README, and the benchmark:
#   make demo    install deps, build, run a demo chain on a namespaced veth topology with live traffic
#   make test    install deps, build, run every test (ctest labels unit, bpf, e2e)
#   make bench   install deps, build, run the benchmarks side by side with the kernel path
#   make stress  install deps, build, run the long forms of the reliability and limits tests
# Run as root (BPF, XDP and network namespaces need it).

BUILD ?= build
JOBS  ?= $(shell nproc)
CTEST_LABELS ?= unit|bpf|e2e

.PHONY: all deps build test unit demo bench stress clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -L '$(CTEST_LABELS)'

# Tests that need no privileges.
unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

# The long forms of the reliability tests (docs/reliability.md): 1,000 edits
# under traffic, 200 random kills during Apply, 10,000,000 tortured frames
# through each BPF program (tests/bpf/torture_test.cc), 10 minutes per fuzz
# target, 5 minutes of 50 concurrent clients, and the limits at full size.
stress: build
	cd $(BUILD) && SFC_EDITS=1000 SFC_CRASHES=200 SFC_TORTURE_FRAMES=10000000 \
	  ctest --output-on-failure --timeout 3600 \
	  -R 'ReliabilityE2E\.(EditsUnderTrafficLoseNothing|RandomKillsDuringApply)|Torture\.'
	cd $(BUILD) && SFC_FUZZ_SECONDS=600 ctest --output-on-failure --timeout 3600 -R '^Fuzz\..*\.Run$$'
	cd $(BUILD) && SFC_CONCURRENT_SECONDS=300 ctest --output-on-failure --timeout 3600 \
	  -R 'ConcurrentE2E\.'
	cd $(BUILD) && SFC_LIMIT_TABLE=1048576 SFC_LIMIT_RULES=65536 SFC_LIMIT_FLOWS=20000 \
	  SFC_LIMIT_CHAIN_VNFS=full ctest --output-on-failure --timeout 3600 -R '^Limits(Bpf|E2E)\.'

demo: build
	BUILD=$(BUILD) ./scripts/demo.sh

bench: build
	BUILD=$(BUILD) ./bench/run.sh

clean:
	rm -rf $(BUILD)

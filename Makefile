# pgbk: the README's commands. Each installs what is missing, then builds.
SWIFT ?= swift
export PGBIN ?= /usr/lib/postgresql/15/bin

.PHONY: all deps build test unit-test demo clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --build-tests

# Unit and integration tests (the integration tests start real PostgreSQL clusters).
test: build
	$(SWIFT) test --skip-build --disable-xctest

unit-test: build
	$(SWIFT) test --skip-build --disable-xctest --filter 'PostgresFormatTests|RepositoryTests'

# The whole backup/restore cycle on a throwaway local cluster.
demo: build
	scripts/demo.sh

clean:
	rm -rf .build

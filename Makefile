# pgbk: the README's commands. Each installs what is missing, then builds.
SWIFT ?= swift
export PGBIN ?= /usr/lib/postgresql/15/bin

.PHONY: all deps test-deps build release deb test unit-test demo bench fuzz man clean

all: build

# Each target installs only what it runs (scripts/install-deps.sh build|demo|test).
deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

build: deps
	$(SWIFT) build --build-tests

# A self-contained binary for servers: the Swift runtime linked in, so only libpq, zlib,
# libzstd and liblz4 are needed where it runs (and it starts 4 ms faster: archive-push runs
# once per WAL segment). Result: .build/release/pgbk
release: deps
	$(SWIFT) build -c release -Xswiftc -static-stdlib

# A Debian package of that binary, lintian-clean: pgbk_<version>_<arch>.deb in this directory
# (the binary, man pages, config-examples, the backup host's systemd units, the pgbk user).
deb: release
	@scripts/install-deps.sh deb
	scripts/build-deb.sh

# Unit and integration tests (the integration tests start real PostgreSQL clusters).
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

unit-test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest --filter 'PostgresFormatTests|RepositoryTests'

# The whole backup/restore cycle on a throwaway local cluster: the server binaries and pgbk
# alone, no test targets.
demo:
	@scripts/install-deps.sh demo
	$(SWIFT) build --product pgbk
	scripts/demo.sh

# pgbk against pg_basebackup and pgBackRest on a generated 1-2 GB cluster (release build;
# installs pgbackrest and GNU time when root). Takes a while; not part of make test.
bench: release
	@scripts/install-deps.sh test
	scripts/bench.sh

# docs/man: a page per command, generated from the command definitions by
# swift-argument-parser's generate-manual plugin (CommandLineTests fails when they drift).
man: deps
	mkdir -p docs/man
	$(SWIFT) package --allow-writing-to-directory docs/man generate-manual --multi-page --output-directory docs/man
	@# whatis (and lintian) read a page's NAME as one word: pgbk.backup, as its file is named;
	@# its synopsis keeps the command as typed, "pgbk backup".
	for page in docs/man/pgbk.*.1; do name=$$(basename $$page .1); \
	  sed -i -e "s/^\.Nm \"pgbk $${name#pgbk.}\"$$/.Nm $$name/" -e "s/^\.Nm$$/.Nm \"pgbk $${name#pgbk.}\"/" $$page; done

# libFuzzer over every parser of on-disk and repository formats, FUZZ_SECONDS (60) per target.
fuzz: deps
	scripts/fuzz.sh

clean:
	rm -rf .build

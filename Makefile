# sitetwin: `make test` installs what the tests need and runs them all,
# the goka peer of the benchmark (its own module, bench/peers/goka) too.
GO ?= go

.PHONY: test deps build vet fmt bench

test: deps
	$(GO) test -race -timeout 9m ./...
	cd bench/peers/goka && $(GO) test -race -timeout 5m ./...

# kcat is the outside Kafka client of the end-to-end tests, chromium the
# browser of the dashboard's browser test, influxd (1.8.10, built from
# source into GOPATH/bin) the InfluxDB of the history test. Without them
# those tests skip (and fail under CI=true).
deps:
	@command -v kcat >/dev/null 2>&1 || { \
		echo "installing kcat (Debian package kcat)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null \
		|| echo "could not install kcat: tests that need it will skip (or fail under CI=true)"; }
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package chromium)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
		|| echo "could not install chromium: the browser test will skip (or fail under CI=true)"; }
	@command -v influxd >/dev/null 2>&1 || [ -x "$$($(GO) env GOPATH)/bin/influxd" ] || { \
		echo "building influxd 1.8.10 (serves the InfluxDB v2 write and Flux query APIs; takes a few minutes)"; \
		$(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10 \
		|| echo "could not build influxd: the InfluxDB test will skip (or fail under CI=true)"; }

build:
	$(GO) build -o sitetwin ./cmd/sitetwin

vet:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

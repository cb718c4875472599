#!/usr/bin/env bash
# Installs every Debian 12 package tlsaudit needs to build, test, fuzz and benchmark.
# Idempotent and non-interactive; run as root (or through sudo).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  libboost-dev libssl-dev openssl ca-certificates
  protobuf-compiler libprotobuf-dev libabsl-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  # rules: YAML policy files, RE2 for `matches`
  libyaml-cpp-dev libre2-dev
  # storage: the PostgreSQL client library
  libpq-dev
  # the daemon: gRPC API (C++ library, protoc plugin), Prometheus metrics, sd_notify
  libgrpc++-dev protobuf-compiler-grpc prometheus-cpp-dev libsystemd-dev
  # tests: GoogleTest, Python test servers, process tools; Python grpcio for the API test
  libgtest-dev libgmock-dev python3 procps python3-grpcio python3-protobuf
  # SARIF output is validated against a JSON schema in the tests
  python3-jsonschema
  # a real PostgreSQL for STARTTLS tests (and storage)
  postgresql
  # fuzzing (clang + libFuzzer + sanitizers)
  clang libclang-rt-14-dev libfuzzer-14-dev
  # discovery: Net-SNMP library and headers; a real snmpd and the CLI tools for tests
  libsnmp-dev snmpd snmp
  # benchmarks: peer tools (sslscan, testssl.sh, nmap), loopback-only namespaces, peak RSS
  sslscan testssl.sh nmap util-linux iproute2 time bc
  # daemon benchmark: nginx serving many loopback TLS endpoints
  nginx-light
  # alert tests: a real Prometheus Alertmanager receives the daemon's alerts on loopback
  prometheus-alertmanager
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
  else
    SUDO=
  fi
  echo "setup: installing ${missing[*]}"
  # Packages with services (postgresql, nginx, snmpd) would start them at install: the tests and
  # benchmarks start their own instances, on loopback, and nothing else should listen. A
  # policy-rc.d that refuses every start is in place during the install only (Debian's
  # invoke-rc.d and deb-systemd-invoke both honour it).
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

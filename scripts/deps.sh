#!/usr/bin/env bash
# Installs the Debian packages anneal needs to build, test and run (idempotent: apt is
# only asked when something is missing). Arguments name further packages to install.
set -euo pipefail
packages=(cmake g++ ninja-build ccache libeigen3-dev zlib1g-dev nlohmann-json3-dev libcli11-dev libgloo-dev iproute2
          libyaml-cpp-dev libsqlite3-dev libpq-dev libcpp-httplib-dev libgtest-dev libbenchmark-dev
          libprotobuf-dev protobuf-compiler pybind11-dev libdlpack-dev
          python3 python3-dev python3-numpy python3-torch python3-pytest
          dataset-fashion-mnist bible-kjv bible-kjv-text
          "$@")  # callers add what only they need (the fuzzers: clang)
# npm installs the runs page's charting library at build time (and the browser tests'
# driver): Debian's when the machine has none of its own
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # apt may be busy with another install: wait for its lock rather than fail
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

#!/usr/bin/env bash
# Installs the Debian packages kboot needs, only those missing, only when run as root.
# Quiet when everything is present. Usage: scripts/ensure-deps.sh [extra packages...]
set -euo pipefail

# libunicorn-dev: the CPU emulator the addon links; device-tree-compiler, binutils for
# aarch64 and gdb-multiarch: independent decoders the tests check our output with;
# libzstd-dev, zlib1g-dev: zstd and gzip dump compression; libcapstone-dev: disassembly in traces;
# mandoc: `mandoc -T lint man/kboot.8` (test/e2e/cli/man.test.ts); chromium (/usr/bin/chromium):
# a headless browser (with a font) that renders the compare chart (test/external/svg-chromium.test.ts);
# universal-ctags: finds C++ functions and their ends for `make lint` (scripts/check-function-length.mjs);
# gcc, g++, make: the addon build (node-gyp) and the tests that compile C against system headers
# (linux-libc-dev: <linux/kexec.h>); zstd, gzip: the CLIs that check our compressed dumps. Every
# tool a test requires is in test/helpers/tools.ts TOOLS with its package; under CI=true a
# missing one fails the run.
# strace: decodes the real kexec_load(2) kboot load --host makes (test/external/host-kexec.test.ts).
# bzip2 and llvm (its yaml2obj): turn test/fixtures/freebsd-dumps/ (a dump FreeBSD wrote, its
# kernel's symbols as yaml2obj input) into the files the dump tests read (test/helpers/freebsd-fixtures.ts).
packages=(
  gcc
  g++
  make
  libc6-dev
  linux-libc-dev
  zstd
  gzip
  libunicorn-dev
  libzstd-dev
  zlib1g-dev
  device-tree-compiler
  binutils
  binutils-aarch64-linux-gnu
  gdb-multiarch
  libcapstone-dev
  mandoc
  chromium
  fonts-dejavu-core
  universal-ctags
  bzip2
  llvm
  strace
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "kboot: missing Debian packages: ${missing[*]}" >&2
  echo "kboot: run as root (or: sudo apt-get install ${missing[*]}) and try again" >&2
  exit 1
fi
echo "kboot: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Installs what zapd needs, from Debian packages only; with --tests also the npm test oracles (stock
# Baileys 6 and 7, tests only). Idempotent and quick when everything is there. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ cmake ninja-build pkg-config make                  # toolchain
  lld                                                    # links zapd with its code layout (apps/zapd/layout.txt)
  libboost1.81-dev libssl-dev libprotobuf-dev protobuf-compiler libsignal-protocol-c-dev zlib1g-dev
  nlohmann-json3-dev                                     # JSON in tools, wasim's control API and, later, the gateway
  libzbar-dev libpng-dev                                 # wasim's phones read QR codes from PNG pictures
  libsqlite3-dev libpq-dev libqrencode-dev               # stores (SQLite, PostgreSQL client); QR codes as PNG
  libjpeg-dev                                            # JPEG thumbnails of images sent
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev  # thumbnails of videos sent (first frame)
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev             # unit tests, micro-benchmarks
  clang libclang-rt-14-dev                               # libFuzzer targets (preset fuzz)
  curl python3                                           # e2e scripts, layering check
  postgresql                                             # a private server for the PostgreSQL store tests
)

want=("${PACKAGES[@]}")
[[ "${1:-}" == "--tests" ]] && want+=("${TEST_PACKAGES[@]}")
if ! command -v node >/dev/null 2>&1; then want+=(nodejs npm); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" == "--tests" ]]; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  if ((major < 20)); then echo "setup: Node.js >= 20 is needed by the baileys 7 oracle (found $(node --version))" >&2; exit 1; fi
  for d in tests/oracle/b6 tests/oracle/b7; do
    # npm ci only when the lock file changed since the last install.
    if [[ ! -f $d/node_modules/.package-lock.json || $d/package-lock.json -nt $d/node_modules/.package-lock.json ]]; then
      echo "setup: npm ci in $d"
      (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  done
fi
echo "setup: ok"

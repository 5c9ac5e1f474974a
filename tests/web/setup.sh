#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium and npm's playwright-core (no browser download).
# Idempotent: does nothing when both are already there. Run from anywhere; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# playwright-core never downloads a browser itself; the tests point it at /usr/bin/chromium.
if [ ! -f node_modules/playwright-core/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi

chromium --version 2>/dev/null | head -1
node -e 'console.log("playwright-core " + require("playwright-core/package.json").version)'

#!/usr/bin/env bash
# Installs the Debian packages the tests drive, each only when it is missing. Needs root (or sudo).
#   chromium  the browser tests (tests/test_browser.py, tests/test_load.py) — never a downloaded browser build
#   nginx     the reverse proxy of scripts/serve_class.sh (tests/test_serve_class.py)
# nginx is installed without starting Debian's nginx service (no listener on port 80): serve_class.sh runs
# its own nginx with its own configuration, on 127.0.0.1 only, and stops it when it stops.
set -euo pipefail
packages=()
if ! command -v chromium >/dev/null 2>&1; then packages+=(chromium fonts-dejavu-core); fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then packages+=(nginx); fi
if [ "${#packages[@]}" -eq 0 ]; then exit 0; fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# A policy-rc.d that answers 101 ("action forbidden") keeps the package scripts from starting services.
# Only ours if there was none; removed again on exit.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    trap '$SUDO rm -f "$POLICY"' EXIT
fi

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
if command -v chromium >/dev/null 2>&1; then chromium --version; fi
if [ -x /usr/sbin/nginx ]; then /usr/sbin/nginx -v; fi

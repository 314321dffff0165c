#!/usr/bin/env bash
# Installs the Debian packages the tests need, each checked on its own (`make test` runs this first). Needs root
# (or sudo) only when something is missing.
#   chromium           the browser tests drive Debian's /usr/bin/chromium (never a downloaded browser build)
#   fonts-dejavu-core  a font chromium renders the app's text with
#   nginx              the reverse proxy of scripts/serve_class.sh (tests/test_serve_class.py)
# A package counts as present when dpkg says it is installed. Under `make test` a missing package is installed
# here, and a test whose prerequisite is still missing fails (tests/conftest.py) instead of being skipped.
# nginx is installed without starting Debian's nginx service (no listener on port 80): serve_class.sh runs
# its own nginx with its own configuration, on 127.0.0.1 only, and stops it when it stops.
#
#   bash scripts/install_system_packages.sh            install what is missing
#   bash scripts/install_system_packages.sh --check    list what is missing (exit status 1 if anything is)
#   bash scripts/install_system_packages.sh --dry-run  say what would be installed, install nothing
set -euo pipefail
PACKAGES=(chromium fonts-dejavu-core nginx)
mode="${1:-install}"
case "$mode" in
    install|--check|--dry-run) ;;
    *) echo "usage: $0 [--check | --dry-run]" >&2; exit 2 ;;
esac

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

missing=()
for package in "${PACKAGES[@]}"; do
    if ! installed "$package"; then missing+=("$package"); fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    [ "$mode" = "install" ] || echo "every system package the tests need is installed: ${PACKAGES[*]}"
    exit 0
fi
case "$mode" in
    --check) printf 'missing: %s\n' "${missing[@]}"; exit 1 ;;
    --dry-run) echo "would install: ${missing[*]}"; exit 0 ;;
esac

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

echo "installing the system packages the tests need: ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for package in "${missing[@]}"; do
    if ! installed "$package"; then echo "install_system_packages.sh: $package is still not installed" >&2; exit 1; fi
done
if [ -x /usr/bin/chromium ]; then /usr/bin/chromium --version; fi
if [ -x /usr/sbin/nginx ]; then /usr/sbin/nginx -v; fi

#!/usr/bin/env bash
# The former name of scripts/install_system_packages.sh (chromium, its font and nginx, each checked on its own).
exec bash "$(dirname "${BASH_SOURCE[0]}")/install_system_packages.sh" "$@"

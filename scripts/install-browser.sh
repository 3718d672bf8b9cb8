#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the serving UI's browser test
# (tests/serving/test_browser.py fails, not skips, without them). Debian/Ubuntu, as root.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "install-browser: chromium and chromedriver already installed"
  exit 0
fi
apt-get update
apt-get install -y chromium chromium-driver

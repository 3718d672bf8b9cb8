#!/usr/bin/env bash
# The Debian tools the tests use, on a machine where nothing was installed by hand
# (Debian/Ubuntu, as root or with sudo):
#   chromium, chromium-driver  the headless-browser test of the UI (tests/e2e/serving/test_browser.py)
#   wrk                        the serving load test (tests/e2e/serving/test_bench.py, recsys bench-serve)
# The tests fail, not skip, without them.
set -euo pipefail
packages=(chromium chromium-driver wrk)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-tools: ${packages[*]} already installed"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
echo "install-system-tools: installed ${missing[*]}"

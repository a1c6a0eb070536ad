#!/usr/bin/env bash
# Install ca125kinetics with its test dependencies into .venv and run the whole test suite.
# The end-to-end browser test needs Chromium: installed here from the distribution's
# packages when missing and this user may (root with apt-get); otherwise that test is skipped
# with the reason printed. The OMOP tests start a throwaway PostgreSQL server: Debian's
# postgresql is installed the same way when initdb is missing; otherwise those tests are skipped
# with the reason printed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup-venv.sh test
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the end-to-end browser test (apt-get)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed; the browser test will be skipped"
fi
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing postgresql for the OMOP tests (apt-get)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    postgresql >/dev/null) || echo "postgresql could not be installed; the PostgreSQL tests will be skipped"
fi
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# The README's test command: system packages the clinic tests use (Debian's PostgreSQL and Chromium,
# installed when missing and this is root), the Python test extra, the linter (ruff), then the whole suite
# (its tests/test_architecture.py checks the import layering).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if [ ! -x /usr/bin/chromium ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql >/dev/null
    fi
    DRGSIM_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"
    export DRGSIM_TEST_POSTGRES_URL
else
    echo "not root or no apt-get: PostgreSQL and browser tests run only where DRGSIM_TEST_POSTGRES_URL is set" \
         "and /usr/bin/chromium exists" >&2
fi
python3 -m pip install -q -e ".[test]"
python3 -m ruff check src tests benchmarks examples
python3 -m pytest "$@"

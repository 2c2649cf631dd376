#!/usr/bin/env bash
# Install (Debian's package) and start PostgreSQL on loopback, with a role and database for the tests.
# Prints the URL for DRGSIM_TEST_POSTGRES_URL on stdout; everything else goes to stderr.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_createcluster "$version" main >&2
fi
sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "/etc/postgresql/$version/main/postgresql.conf"
pg_ctlcluster "$version" main start >&2 2>/dev/null || pg_ctlcluster "$version" main status >&2
for _ in $(seq 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='drgsim'\" | grep -q 1 || psql -q -c \"CREATE ROLE drgsim LOGIN PASSWORD 'drgsim' CREATEDB\"" >&2
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='drgsim_test'\" | grep -q 1 || createdb -O drgsim drgsim_test" >&2
echo "postgresql://drgsim:drgsim@127.0.0.1:5432/drgsim_test"

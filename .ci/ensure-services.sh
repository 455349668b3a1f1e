#!/usr/bin/env bash
# Make sure the system packages and services the test suite uses are installed and running:
# Tesseract (OCR) with the languages the invoice vocabularies cover (English, German, French,
# Spanish, Dutch, Italian, Portuguese; its OSD data comes with tesseract-ocr), wrk (the
# benchmark's load generator), PostgreSQL (database "test", trust auth on loopback), Redis,
# Prometheus with promtool (the alert-rule tests and tests/integration/test_metrics.py) and
# Dovecot (the IMAP server the mail tests start themselves, each with a throwaway config on a
# free port; the system instance is not needed and not started). Under CI=true a missing
# tool or Tesseract language fails the run.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need_apt=()
command -v tesseract >/dev/null || need_apt+=(tesseract-ocr tesseract-ocr-eng)
tesseract_langs=$(tesseract --list-langs 2>/dev/null | tail -n +2 || true)
for lang in eng deu fra spa nld ita por; do
    grep -qx "$lang" <<<"$tesseract_langs" || need_apt+=("tesseract-ocr-$lang")
done
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
ldconfig -p | grep -q libGL.so.1 || need_apt+=(libgl1)
ldconfig -p | grep -q libglib-2.0.so.0 || need_apt+=(libglib2.0-0)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || need_apt+=(prometheus)
# Backups: pg_dump/pg_restore/pg_basebackup/pg_receivewal, and initdb/pg_ctl for the
# point-in-time test's throwaway cluster (both come with Debian's postgresql package).
command -v pg_receivewal >/dev/null || need_apt+=(postgresql-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/sbin/dovecot ] || command -v dovecot >/dev/null || need_apt+=(dovecot-imapd)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    echo "starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q "robofleet-tests" "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust # robofleet-tests\nhost all all ::1/128 trust # robofleet-tests' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -lqt 2>/dev/null | cut -d'|' -f1 | grep -qw test; then
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE test" \
        || su postgres -c "psql -qc 'CREATE DATABASE test'"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
if [ "${CI:-}" = "true" ]; then
    for tool in prometheus promtool; do
        command -v "$tool" >/dev/null || { echo "CI=true and $tool is missing" >&2; exit 1; }
    done
    tesseract_langs=$(tesseract --list-langs 2>/dev/null | tail -n +2 || true)
    for lang in eng deu fra spa nld ita por osd; do
        grep -qx "$lang" <<<"$tesseract_langs" \
            || { echo "CI=true and Tesseract lacks its $lang data" >&2; exit 1; }
    done
fi
echo "services: tesseract $(tesseract --version 2>&1 | head -1 | cut -d' ' -f2) ($(tesseract --list-langs 2>/dev/null | tail -n +2 | tr '\n' ' ' | sed 's/ $//')), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), postgresql up, redis up, $(promtool --version 2>&1 | head -1 | cut -d' ' -f1-3), dovecot $(/usr/sbin/dovecot --version 2>/dev/null | cut -d' ' -f1)"

#!/usr/bin/env bash
# Dependency audit: pip-audit over the pinned environment (requirements/lock.txt + dev.txt).
#
# Exit 0: no known vulnerability outside requirements/audit-allowlist.txt, or the audit was not
#         possible (no access to the advisory database: offline CI) - said loudly, never silently.
# Exit 1: a finding that is not allow-listed, or pip-audit failed for another reason.
set -uo pipefail
cd "$(dirname "$0")/.."

PIP_AUDIT=${PIP_AUDIT:-.venv/bin/pip-audit}
ALLOWLIST=${AUDIT_ALLOWLIST:-requirements/audit-allowlist.txt}
ignore=()
while read -r id _; do  # "ID  justification"; '#' comments and blank lines skipped
    [[ -z "$id" || "$id" == \#* ]] && continue
    ignore+=(--ignore-vuln "$id")
done <"$ALLOWLIST"

report=$(mktemp)
trap 'rm -f "$report"' EXIT
# --disable-pip --no-deps: audit exactly the pins, no resolver (lock.txt is already complete).
"$PIP_AUDIT" --disable-pip --no-deps --progress-spinner off --timeout "${AUDIT_TIMEOUT:-30}" \
    -r requirements/lock.txt -r requirements/dev.txt "${ignore[@]}" >"$report" 2>&1
status=$?
# pip-audit exits 0 and prints "No known vulnerabilities found" when it could not look a single
# package up (no advisory service reachable: every pin "could not be audited").
pins=$(cat requirements/lock.txt requirements/dev.txt | grep -cE '^[A-Za-z0-9_.-]+==')
skipped=$(grep -c "could not be audited" "$report")
if [[ $status -eq 0 && $skipped -ge $pins ]]; then
    echo "audit: NOT POSSIBLE - the advisory database could not be reached (offline?): all" \
         "$pins pins were skipped, none was checked. Run scripts/audit.sh where PyPI is reachable."
    exit 0
fi
if [[ $status -eq 0 && $skipped -gt 0 ]]; then
    grep "could not be audited" "$report"
    echo "audit: INCOMPLETE - $skipped of $pins pins could not be checked"
    exit 1
fi
if [[ $status -eq 0 ]]; then
    cat "$report"
    echo "audit: OK - no known vulnerabilities ($(( ${#ignore[@]} / 2 )) allow-listed)"
    exit 0
fi
if grep -qE "known vulnerabilit" "$report"; then  # a real finding: never excused as offline
    cat "$report"
    echo "audit: FAILED - fix the pin, or allow-list the ID in $ALLOWLIST with a justification"
    exit 1
fi
if grep -qiE "ConnectionError|ConnectTimeout|ReadTimeout|Max retries|NameResolution|Temporary failure in name resolution|Network is unreachable|ProxyError|SSLError|ServiceError" "$report"; then
    tail -n 3 "$report"
    echo "audit: NOT POSSIBLE - the advisory database could not be reached (offline?);" \
         "no dependency was checked. Run scripts/audit.sh where PyPI/OSV is reachable."
    exit 0
fi
cat "$report"
echo "audit: FAILED - pip-audit exited with status $status"
exit 1

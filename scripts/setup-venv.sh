#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install the package.
# Usage: bash scripts/setup-venv.sh [extras]   e.g. "test" (exits non-zero when pip fails)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
"$py" - <<'PY' || { echo "ca125kinetics needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
if [ ! -x "$root/.venv/bin/python" ]; then
  "$py" -m venv "$root/.venv"
fi
extras="${1:-}"
spec="$root"
[ -n "$extras" ] && spec="$root[$extras]"
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
log="$(mktemp)"
status=0
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" >"$log" 2>&1 || status=$?
grep -v "is ignored: it is neither a file nor a directory" "$log" || true
rm -f "$log"
if [ "$status" != 0 ]; then
  echo "installation failed: pip could not install $spec (exit $status; its messages are above)" >&2
  exit 1
fi
"$root/.venv/bin/python" -c "import ca125kinetics" || { echo "installation failed" >&2; exit 1; }
# Byte-compile the package as pip does for a regular install: an editable install otherwise
# writes its bytecode at the first import, and not at all where PYTHONDONTWRITEBYTECODE is set
# (containers, some CI), where every command, test subprocess and Spark worker would compile
# the source again (0.3-0.6 s each). A file changed later is recompiled by Python as usual.
"$root/.venv/bin/python" -m compileall -q "$root/src" >/dev/null \
  || { echo "installation failed: the package could not be byte-compiled" >&2; exit 1; }

#!/usr/bin/env bash
# Install ca125kinetics into .venv and run the main job end to end on the embedded defaults:
# committed synthetic cohort -> GCIG rules -> kinetics -> training tracked in MLflow (SQLite)
# -> registered model -> scoring an example patient. Outputs go to ./out/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"
exec python -m ca125kinetics.demo "$@"

"""The main job end to end on the embedded defaults (``bash scripts/run.sh``, ``ca125 demo``).

committed synthetic cohort -> GCIG rules -> KELIM-like kinetics -> training with MLflow on
SQLite -> registered model (alias ``champion``) -> scoring an example patient.

This module is presentation: it calls the package's public functions in order and prints
what a newcomer needs to see. Results are written under ``out/``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

__all__ = ["run", "main"]

REPO_ROOT = Path(__file__).resolve().parents[2]
# the committed cohort is package data (in a checkout a link to the repository's
# data/synthetic, in a built wheel a copy of its files), so an installed wheel runs on it too
DEFAULT_COHORT = Path(__file__).resolve().parent / "data" / "synthetic" / "default"
DEFAULT_CONFIG = REPO_ROOT / "training" / "default.toml"


def _stage(n: int, title: str) -> float:
    print(f"\n=== {n}. {title} " + "=" * max(0, 70 - len(title)), flush=True)
    return time.perf_counter()


def _done(t0: float) -> None:
    print(f"    ({time.perf_counter() - t0:.1f} s)", flush=True)


def run(*, cohort: Path = DEFAULT_COHORT, out: Path = Path("out"), tracking_uri: str | None = None,
        config: Path | None = None, name: str = "ca125-complete-resection") -> int:
    """Run the whole pipeline and print a short account of each stage."""
    import pandas as pd

    from .cli._output import text_table as _text_table
    from .cli.gcig import _gcig_summary
    from .cli.kinetics import _kinetics_summary, _kinetics_table
    from .gcig import gcig_cohort
    from .io import read_clinical, read_markers, write_table
    from .markers import get_marker
    from .settings import GcigSettings, KineticsSettings, with_provenance
    from .synth import write_synthetic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
    config = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)

    print("ca125kinetics: research software, not a medical device. "
          "Everything below runs on SYNTHETIC data.")

    t0 = _stage(1, "Synthetic cohort")
    markers_path, clinical_path = cohort / "markers.csv", cohort / "clinical.csv"
    if not markers_path.exists():
        if Path(cohort).resolve() != Path(DEFAULT_COHORT).resolve():
            # a cohort named by the user is read, never made up in its place (a typo in the
            # path had generated 3,000 synthetic patients there and trained on them)
            from .errors import InvalidInputError

            raise InvalidInputError(f"--cohort {cohort}: no markers.csv there; give a directory holding markers.csv "
                                    f"and clinical.csv (ca125 synth --out {cohort} writes a synthetic one)")
        print(f"    {cohort} not found: generating the default cohort there")
        write_synthetic(3000, 20261121, cohort)
    markers = read_markers(markers_path, on_error="flag")
    clinical = read_clinical(clinical_path, on_error="flag")
    print(f"    {markers['patient_id'].nunique()} patients, {len(markers)} marker rows, "
          f"{int(clinical['complete_resection'].notna().sum())} with an observed resection outcome "
          f"(from {cohort})")
    _done(t0)

    t0 = _stage(2, "GCIG CA-125 response and progression (Rustin 2011)")
    gsettings = GcigSettings()
    # the tables of `ca125 gcig --clinical` and `ca125 kinetics`, provenance columns included
    gcig = with_provenance(gcig_cohort(markers, clinical, settings=gsettings), gsettings)
    write_table(gcig, out / "gcig.csv")
    cols = ["patient_id", "baseline_value", "status", "category", "response_day", "confirmation_day", "reason"]
    print(_text_table(gcig[cols].assign(reason=gcig["reason"].str.slice(0, 80)), max_rows=6))
    print(_gcig_summary(gcig, gsettings))
    print(f"    full table: {out / 'gcig.csv'}")
    _done(t0)

    t0 = _stage(3, "KELIM-like kinetics (population empirical-Bayes)")
    ksettings = KineticsSettings()
    kin = _kinetics_table(markers, "population", None, ksettings, get_marker("ca125"), None)
    write_table(kin, out / "kinetics.csv")
    kcols = [c for c in ("patient_id", "status", "n_samples", "k", "half_life_days", "kelim_score", "floor", "nadir",
                         "nadir_censored") if c in kin]
    print(_text_table(kin[kcols].round(4), max_rows=6))
    print(_kinetics_summary(kin, ksettings))
    print(f"    full table: {out / 'kinetics.csv'}")
    _done(t0)

    t0 = _stage(4, f"Training with MLflow tracking ({tracking_uri})")
    from .cohort import bar_wanted
    from .tracking import quiet_mlflow
    from .train import format_summary, train

    with quiet_mlflow():   # the bar on a terminal only, as every command draws it (not into a CI log)
        result = train(markers_path, clinical_path, config=config, tracking_uri=tracking_uri,
                       name=name, out_dir=out / "model", progress=bar_wanted(True))
    print(format_summary(result))
    _done(t0)

    t0 = _stage(5, f"Scoring an example patient with models:/{name}@champion")
    from .predict import predict

    example = _example_patient(markers, clinical, gcig)
    pm = markers[markers["patient_id"] == example]
    pc = clinical[clinical["patient_id"] == example]
    write_table(pm, out / "example_markers.csv")
    write_table(pc, out / "example_clinical.csv")
    os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri)
    with quiet_mlflow():
        pred = predict(pm, pc, model=f"models:/{name}@champion")
    print(pred.to_text())
    print(f"\n    the same from the command line:\n    ca125 score --markers {out / 'example_markers.csv'} "
          f"--clinical {out / 'example_clinical.csv'} --model models:/{name}@champion")
    _done(t0)
    write_table(pd.DataFrame([pred.to_dict()]), out / "example_prediction.json")
    print(f"\nDone. Outputs in {out}/, MLflow runs in {tracking_uri} "
          f"(browse with: .venv/bin/mlflow ui --backend-store-uri {tracking_uri}).")
    return 0


def _example_patient(markers, clinical, gcig) -> str:
    """A patient with a confirmed GCIG response and complete clinical data, for the demo."""
    ok = gcig[gcig["status"] == "response"]["patient_id"]
    complete = clinical.dropna(subset=["ecog", "ascites_ml", "primary_residual_disease", "pfi_months"])["patient_id"]
    candidates = sorted(set(ok) & set(complete))
    return candidates[0] if candidates else str(gcig["patient_id"].iloc[0])


def main(argv: list[str] | None = None) -> int:
    from .cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

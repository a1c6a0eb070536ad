"""Writes the adversarial validation cohort of the end-to-end test (run once; the tests never
regenerate it).

Starts from a synthetic cohort that is not the committed one (``ca125 synth --n 800 --seed
4242``, the same tables as ``ca125kinetics.synth.write_synthetic(800, 4242, DIR)``) and plants,
on distinct patients drawn with ``numpy.random.default_rng(20261130)``, the problems a real
validation cohort has. The tables are edited as text (every other cell is left byte for
byte as ``ca125 synth`` wrote it):

markers
  * ``negative_ca125`` (4): one CA-125 value made negative -> invalid input;
  * ``text_ca125`` (3): one CA-125 value made ``"n/a"`` -> invalid input;
  * ``duplicate_day`` (3): the second sample repeated on the same day with another value
    (the model's ``duplicates = "error"``) -> invalid input;
  * ``two_samples`` (8) / ``one_sample`` (4): every sample but the first two / one dropped ->
    kinetics not estimable (no KELIM-like score), still scored;
  * ``markers_only`` (2): the clinical row deleted (markers without a clinical row).
clinical
  * ``clinical_only`` (3): every marker row deleted -> no markers;
  * ``outcome_missing`` (15): ``complete_resection`` emptied in the surgery arm -> no outcome;
  * ``ecog_out_of_range`` (3): ``ecog`` = 7 -> invalid input;
  * ``stage_unknown_text`` (2): ``figo_stage`` = ``V`` -> invalid input;
  * ``outcome_coded_2`` (2): ``complete_resection`` = 2 -> invalid input;
  * ``pfs_negative`` (1): ``pfs_months`` = -3 -> invalid input;
  * ``<predictor>_missing``: ``ecog`` (10), ``ascites_ml`` (10), ``pfi_months`` (8),
    ``recurrence_pattern`` (8), ``age`` (5), ``figo_stage`` (5) emptied -> imputed by the
    model, published scores unknown where they need the value;
  * ``recist_missing`` (40): ``recist`` emptied (without a confirmed GCIG response the
    decision rule's entry criterion is then undetermined);
  * ``pfs_months_missing`` (10), ``pfs_event_missing`` (5), ``arm_missing`` (5) emptied.

Writes ``validation_e2e_markers.csv``, ``validation_e2e_clinical.csv`` and
``validation_e2e_planted.csv`` (``patient_id, problem``: one row per planted problem).

    PYTHONPATH=src python tests/data/validation_e2e_generator.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
N, SEED, PLANT_SEED = 800, 4242, 20261130


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def main() -> None:
    from ca125kinetics.synth import write_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic(N, SEED, tmp)
        markers = _read(Path(tmp) / "markers.csv")
        clinical = _read(Path(tmp) / "clinical.csv")
    rng = np.random.default_rng(PLANT_SEED)
    ids = clinical["patient_id"].to_numpy()
    surgery = set(clinical.loc[clinical["arm"] == "surgery", "patient_id"])
    pool = list(rng.permutation(ids))
    planted: list[tuple[str, str]] = []

    def take(k: int, problem: str, *, operated: bool = False) -> list[str]:
        chosen = [pid for pid in pool if not operated or pid in surgery][:k]
        for pid in chosen:
            pool.remove(pid)
            planted.append((pid, problem))
        return chosen

    is_sample = markers["ca125"] != ""
    # ---- markers
    for pid in take(4, "negative_ca125", operated=True):
        row = markers.index[(markers["patient_id"] == pid) & is_sample][1]
        markers.loc[row, "ca125"] = "-" + markers.loc[row, "ca125"].lstrip("<")
    for pid in take(3, "text_ca125", operated=True):
        row = markers.index[(markers["patient_id"] == pid) & is_sample][1]
        markers.loc[row, "ca125"] = "n/a"
    duplicates = []
    for pid in take(3, "duplicate_day", operated=True):
        row = markers.index[(markers["patient_id"] == pid) & is_sample][1]
        copy = markers.loc[[row]].copy()
        copy["ca125"] = "999.0"
        duplicates.append(copy)
    markers = pd.concat([markers, *duplicates]).sort_index(kind="stable").reset_index(drop=True)
    is_sample = markers["ca125"] != ""
    drop = []
    for k, problem in ((2, "two_samples"), (1, "one_sample")):
        for pid in take(8 if k == 2 else 4, problem, operated=True):
            rows = markers.index[(markers["patient_id"] == pid) & is_sample]
            drop.extend(rows[k:])
    markers = markers.drop(index=drop).reset_index(drop=True)
    only_markers = take(2, "markers_only", operated=True)
    clinical = clinical[~clinical["patient_id"].isin(only_markers)].reset_index(drop=True)
    # ---- clinical
    only_clinical = take(3, "clinical_only", operated=True)
    markers = markers[~markers["patient_id"].isin(only_clinical)].reset_index(drop=True)

    def set_cells(k: int, problem: str, column: str, value: str, operated: bool = False) -> None:
        for pid in take(k, problem, operated=operated):
            clinical.loc[clinical["patient_id"] == pid, column] = value

    set_cells(15, "outcome_missing", "complete_resection", "", operated=True)
    set_cells(3, "ecog_out_of_range", "ecog", "7", operated=True)
    set_cells(2, "stage_unknown_text", "figo_stage", "V", operated=True)
    set_cells(2, "outcome_coded_2", "complete_resection", "2", operated=True)
    set_cells(1, "pfs_negative", "pfs_months", "-3.0", operated=True)
    for column, k in (("ecog", 10), ("ascites_ml", 10), ("pfi_months", 8), ("recurrence_pattern", 8),
                      ("age", 5), ("figo_stage", 5)):
        set_cells(k, f"{column}_missing", column, "", operated=True)
    set_cells(40, "recist_missing", "recist", "")
    set_cells(10, "pfs_months_missing", "pfs_months", "")
    set_cells(5, "pfs_event_missing", "pfs_event", "")
    set_cells(5, "arm_missing", "arm", "", operated=True)

    markers.to_csv(HERE / "validation_e2e_markers.csv", index=False)
    clinical.to_csv(HERE / "validation_e2e_clinical.csv", index=False)
    pd.DataFrame(planted, columns=["patient_id", "problem"]).sort_values(
        ["problem", "patient_id"], kind="stable").to_csv(HERE / "validation_e2e_planted.csv", index=False)


if __name__ == "__main__":
    main()

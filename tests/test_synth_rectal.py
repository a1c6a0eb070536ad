"""Tests of the rectal synthetic generator (synth_rectal.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.synth_rectal import (RECTAL_CLINICAL_COLUMNS, RECTAL_TRUTH_COLUMNS,
                                        simulate_rectal_cohort)


@pytest.fixture(scope="module")
def cohort():
    return simulate_rectal_cohort(4000, 11)


def test_same_seed_same_cohort_and_files(tmp_path):
    a, b = simulate_rectal_cohort(200, 3), simulate_rectal_cohort(200, 3)
    pd.testing.assert_frame_equal(a.markers, b.markers)
    a.write(tmp_path / "a")
    b.write(tmp_path / "b")
    for name in ("markers.csv", "clinical.csv", "truth.csv", "params.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not simulate_rectal_cohort(200, 4).markers.equals(a.markers)


def test_columns_and_marker(cohort, tmp_path):
    assert tuple(cohort.clinical.columns) == RECTAL_CLINICAL_COLUMNS
    assert tuple(cohort.truth.columns) == RECTAL_TRUTH_COLUMNS
    assert cohort.marker == "cea"
    cohort.write(tmp_path)
    header = (tmp_path / "markers.csv").read_text().splitlines()[0]
    assert header == "patient_id,day,cea,uln,assay,event"


def test_downstaged_is_the_restaging_gate_not_pathology(cohort):
    cl = cohort.clinical
    t_le_3 = cl["yct_stage"].isin(["T0", "T1", "T2", "T3"])
    expected = t_le_3 & (cl["ycn_stage"] == "N0") & (cl["ycm_stage"] == "M0")
    assert (cl["downstaged"].astype(bool) == expected).all()
    # pathology differs from the clinical restaging for some patients
    assert (cl["ypn_stage"] != cl["ycn_stage"]).any()


def test_realism_targets(cohort):
    cl, tr = cohort.clinical, cohort.truth
    assert 0.45 < cl["downstaged"].mean() < 0.70
    pcr = ((cl["ypt_stage"] == "T0") & (cl["ypn_stage"] == "N0")).mean()
    assert 0.08 < pcr < 0.22
    assert 0.35 < (tr["c0"] > 5).mean() < 0.55            # raised baseline CEA in ~45 %
    assert 15 < tr["half_life_days"].median() < 35
    # the true rate carries the response: faster clearance, more downstaging
    fast = tr["k"] > tr["k"].median()
    assert cl.loc[fast, "downstaged"].mean() > cl.loc[~fast, "downstaged"].mean() + 0.1
    # only downstaged patients are randomised, about 1:1
    arm = cl["arm"].dropna()
    assert set(arm) == {"reduced", "conventional"}
    assert (cl.loc[cl["arm"].notna(), "downstaged"] == 1).all()
    assert abs((arm == "reduced").mean() - 0.5) < 0.05


def test_markers_follow_the_floor_model(cohort):
    m, tr = cohort.markers, cohort.truth.set_index("patient_id")
    assert (m["cea"] > 0).all()
    assert m["censored"].any() and (m.loc[m["censored"], "cea"] == 0.5).all()
    first = m.groupby("patient_id")["day"].min()
    assert (first <= 0).all()
    # on-treatment values near C(t) within the assay noise (median absolute log error < 10 %)
    on = m[(m["day"] > 0) & ~m["censored"]].join(tr, on="patient_id")
    model = on["floor"] + (on["c0"] - on["floor"]) * np.exp(-on["k"] * on["day"])
    assert np.median(np.abs(np.log(on["cea"] / model))) < 0.1


def test_bad_arguments_are_typed_errors():
    with pytest.raises(InvalidInputError):
        simulate_rectal_cohort(0, 1)
    with pytest.raises(InvalidInputError):
        simulate_rectal_cohort(10, -1)
    with pytest.raises(InvalidInputError):
        simulate_rectal_cohort(10, 1, uln=0)
    with pytest.raises(InvalidInputError, match=r"uln must be a positive number of ng/mL \(from 1 to 20"):
        simulate_rectal_cohort(10, 1, uln=35.0)     # CA-125's ULN for a CEA cohort


def test_committed_rectal_cohort_regenerates_byte_identical(tmp_path):
    from pathlib import Path

    from ca125kinetics.synth_rectal import write_rectal_synthetic

    committed = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "rectal"
    write_rectal_synthetic(1000, 20261129, tmp_path)
    for name in ("markers.csv", "clinical.csv", "truth.csv", "params.json"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


def test_randomised_patients_are_exactly_the_reset_eligible(cohort):
    """The generator's own gate (who is randomised) and the RESET criteria file agree."""
    from ca125kinetics.eligibility import screen

    status = screen(cohort.clinical, trial="reset").to_frame().set_index("patient_id")["status"]
    randomised = cohort.clinical.set_index("patient_id")["arm"].notna()
    assert (status[randomised] == "eligible").all()
    assert not (status[~randomised] == "eligible").any()
    assert (status == "undetermined").any()            # unknown answers are not guessed

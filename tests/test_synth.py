"""Tests of the seeded synthetic cohort generator and the committed default cohort.

The realism targets checked on the default cohort come from the data contract ("Synthetic
cohorts") and docs/clinical-rules.md: CA-125 at recurrence median ~100-150 U/mL,
range ~10 to > 10,000; floor a few to ~15 U/mL; half-life median ~16 days (Riedinger 2006:
15.8); ECOG mostly 0-1; ascites in a minority; complete resection ~65-77 % of the operated
(DESKTOP III 75.5 %, GOG-213 67 %); PFS longer after complete, shorter after incomplete
resection than without surgery (DESKTOP III).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

import ca125kinetics
from ca125kinetics.errors import InvalidInputError
from ca125kinetics.synth import (
    CLINICAL_COLUMNS,
    MARKER_FILE_COLUMNS,
    TRUTH_COLUMNS,
    SyntheticCohort,
    simulate_cohort,
    write_synthetic,
)

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
DEFAULT_N, DEFAULT_SEED = 3000, 20261121
FILES = ("markers.csv", "clinical.csv", "truth.csv", "params.json")


@pytest.fixture(scope="module")
def cohort() -> SyntheticCohort:
    return simulate_cohort(DEFAULT_N, DEFAULT_SEED)


@pytest.fixture(scope="module")
def files():
    """The committed default cohort, read back with plain pandas."""
    markers = pd.read_csv(DEFAULT_DIR / "markers.csv", dtype={"patient_id": str, "ca125": str},
                          keep_default_na=False, na_values={"event": [""], "ca125": [""]})
    clinical = pd.read_csv(DEFAULT_DIR / "clinical.csv", dtype={"patient_id": str},
                           parse_dates=["treatment_start"])
    truth = pd.read_csv(DEFAULT_DIR / "truth.csv", dtype={"patient_id": str})
    return markers, clinical, truth


def _samples(markers: pd.DataFrame) -> pd.DataFrame:
    return markers[markers["event"].isna()]


def _baseline(markers: pd.DataFrame) -> pd.Series:
    s = _samples(markers)
    return s[s["day"] <= 0].groupby("patient_id")["ca125"].last()


# --- the committed default cohort ------------------------------------------------------


def test_default_cohort_regenerates_byte_for_byte(cohort, tmp_path):
    out = cohort.write(tmp_path / "regen")
    for name in FILES:
        assert (out / name).read_bytes() == (DEFAULT_DIR / name).read_bytes(), (
            f"{name} differs from data/synthetic/default; regenerate with "
            f"`ca125 synth --n {DEFAULT_N} --seed {DEFAULT_SEED} --out data/synthetic/default`"
        )


def test_default_files_are_small_and_have_contract_columns(files):
    markers, clinical, truth = files
    for name in FILES:
        assert (DEFAULT_DIR / name).stat().st_size < 1_000_000
    assert tuple(markers.columns) == MARKER_FILE_COLUMNS
    assert tuple(clinical.columns) == CLINICAL_COLUMNS
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert (DEFAULT_DIR.parent / "README.md").is_file()


def test_default_files_text_forms(files):
    markers, clinical, _ = files
    assert markers["patient_id"].str.fullmatch(r"\d{6}").all()
    assert markers["patient_id"].iloc[0] == "000001"  # leading zeros kept in the file
    values = markers.loc[markers["event"].isna(), "ca125"]
    censored = values.str.startswith("<")
    assert set(values[censored]) == {"<5"}
    assert 0 < censored.sum() < 0.05 * len(values)
    assert values[~censored].str.fullmatch(r"\d+\.\d").all()
    events = markers[markers["event"].notna()]
    assert set(events["event"]) == {"paracentesis"}
    assert events["ca125"].isna().all()
    assert clinical["complete_resection"].isna().eq(clinical["arm"] == "no_surgery").all()


def test_default_files_read_by_package_reader(files):
    io = pytest.importorskip("ca125kinetics.io")
    markers = io.read_markers(DEFAULT_DIR / "markers.csv")
    expected = simulate_cohort(DEFAULT_N, DEFAULT_SEED).markers
    assert len(markers) == len(expected)
    assert markers["patient_id"].tolist() == expected["patient_id"].tolist()
    np.testing.assert_array_equal(markers["day"].to_numpy(), expected["day"].to_numpy())
    np.testing.assert_array_equal(markers["ca125"].to_numpy(), expected["ca125"].to_numpy())
    np.testing.assert_array_equal(markers["censored"].to_numpy(), expected["censored"].to_numpy())
    clinical = io.read_clinical(DEFAULT_DIR / "clinical.csv")
    assert len(clinical) == DEFAULT_N
    assert set(clinical["figo_stage"]) == {"I", "II", "III", "IV"}


# --- realism targets -------------------------------------------------------------------


def test_ca125_at_recurrence_targets(files):
    markers, _, truth = files
    base = pd.to_numeric(_baseline(markers), errors="coerce")
    assert 100 <= base.median() <= 150
    assert base.min() <= 15 and base.max() >= 10_000
    uln = _samples(markers).groupby("patient_id")["uln"].first()
    not_evaluable = (base < 2 * uln.loc[base.index]).mean()
    assert 0.10 <= not_evaluable <= 0.15
    assert 100 <= truth["c0"].median() <= 150
    assert 5 <= truth["floor"].median() <= 10
    assert truth["floor"].quantile(0.05) >= 2 and truth["floor"].quantile(0.95) <= 15


def test_kinetics_targets(files):
    _, _, truth = files
    resp = truth[truth["responder"]]
    assert 14 <= truth["half_life_days"].median() <= 18
    assert 0.04 <= truth["k"].median() <= 0.047
    assert 0.40 <= np.log(resp["k"]).std() <= 0.50
    nonresp = truth[~truth["responder"]]
    assert 0.03 <= len(nonresp) / len(truth) <= 0.10
    assert (nonresp["k"] < 0).mean() > 0.5  # mostly rising CA-125
    assert nonresp["half_life_days"][nonresp["k"] <= 0].isna().all()


def test_sampling_schedule_targets(files):
    markers, _, _ = files
    s = _samples(markers)
    per_patient = s[s["day"] <= 100].groupby("patient_id").size()
    assert per_patient.between(3, 5).mean() >= 0.9
    assert 0.005 <= (per_patient <= 2).mean() <= 0.05  # some insufficient
    late = (s["day"] > 100).groupby(s["patient_id"]).any().mean()
    assert 0.01 <= late <= 0.10
    pre = s[s["day"] <= 0]
    assert pre["patient_id"].is_unique and pre["day"].between(-10, 0).all()
    assert len(pre) == len(per_patient)
    assert not s.duplicated(["patient_id", "day"]).any()
    on = s[s["day"] > 0]
    assert on["day"].between(18, 126).all()
    n_slots = on["day"].between(18, 66).sum()
    assert 0.85 <= n_slots / (3 * len(per_patient)) <= 0.93  # ~10 % missing, a few stop early


def test_assay_and_uln_targets(files):
    markers, _, truth = files
    s = _samples(markers)
    assert (s.groupby("patient_id")["uln"].nunique() == 1).all()
    uln = s.groupby("patient_id")["uln"].first()
    assert set(uln) == {30.0, 35.0} and 0.05 <= (uln == 30.0).mean() <= 0.15
    changed = s.groupby("patient_id")["assay"].nunique() > 1
    assert 0.005 <= changed.mean() <= 0.02
    assert set(changed[changed].index) == set(truth.loc[truth["assay_change_day"].notna(), "patient_id"])
    n_events = markers["event"].notna().sum()
    assert 0.005 * len(uln) <= n_events <= 0.04 * len(uln)


def test_clinical_targets(files):
    _, clinical, _ = files
    assert clinical["age"].min() >= 19
    ecog = clinical["ecog"].value_counts(normalize=True)
    assert ecog.loc[[0, 1]].sum() >= 0.85
    asc = clinical["ascites_ml"]
    assert 0.15 <= (asc > 0).mean() <= 0.35 and (asc >= 500).sum() > 0
    stages = clinical["figo_stage"].str.extract(r"^(IV|III|II|I)")[0]
    assert set(stages) == {"I", "II", "III", "IV"}
    assert (clinical["figo_stage"] == "IIIC").any()
    missing = clinical["primary_residual_disease"].isna().mean()
    assert 0.01 <= missing <= 0.05
    assert clinical["pfi_months"].min() >= 6 and 14 <= clinical["pfi_months"].median() <= 18
    assert set(clinical["recurrence_pattern"]) == {"single", "multiple", "carcinomatosis"}
    assert set(clinical["recist"]) == {"CR", "PR", "SD", "PD"}
    assert 0.70 <= (clinical["arm"] == "surgery").mean() <= 0.80


def test_recist_consistent_with_k(files):
    _, clinical, truth = files
    median_k = truth["k"].groupby(clinical["recist"]).median()
    assert median_k["CR"] > median_k["PR"] > median_k["SD"] > median_k["PD"]
    assert median_k["PD"] < 0.01


def test_complete_resection_targets_and_oracle_auc(files):
    _, clinical, truth = files
    op = (clinical["arm"] == "surgery").to_numpy()
    y = clinical.loc[op, "complete_resection"].astype(int)
    p = truth.loc[op, "p_complete_resection"]
    assert 0.65 <= p.mean() <= 0.75
    assert 0.65 <= y.mean() <= 0.77
    oracle = roc_auc_score(y, p)
    assert 0.76 <= oracle <= 0.85
    # k alone is informative but below the oracle
    k_only = roc_auc_score(y, truth.loc[op, "z_log_k"])
    assert 0.65 <= k_only < oracle - 0.03
    # the published scores use the same clinical factors: modest but real discrimination
    c = clinical[op]
    ago = (c["ecog"] == 0) & (c["ascites_ml"] < 500) & (c["primary_residual_disease"] == 0)
    ago_auc = roc_auc_score(y, ago.astype(int))
    assert 0.53 <= ago_auc <= 0.68
    base = truth.loc[op, "c0"]
    imodel = (0.8 * c["figo_stage"].str.match(r"^(III|IV)") + 1.5 * (c["primary_residual_disease"] == 1)
              + 2.4 * (c["pfi_months"] < 16) + 2.4 * (c["ecog"] >= 2) + 1.8 * (base > 105)
              + 3.0 * (c["ascites_ml"] > 0))
    imodel_auc = roc_auc_score(y, -imodel)
    assert 0.58 <= imodel_auc <= 0.75
    assert max(ago_auc, imodel_auc) < oracle - 0.05


def test_pfs_ordering_by_surgery_outcome(files):
    _, clinical, truth = files
    group = np.where(clinical["arm"] == "no_surgery", "none",
                     np.where(clinical["complete_resection"] == 1, "complete", "incomplete"))
    latent = truth["pfs_months_latent"].groupby(group).median()
    assert latent["complete"] > latent["none"] > latent["incomplete"]
    # observed: censored at follow-up, never beyond it
    assert (clinical["pfs_months"] <= truth["followup_months"].round(1) + 0.05).all()
    events = clinical["pfs_event"] == 1
    assert 0.5 <= events.mean() <= 0.95
    np.testing.assert_allclose(clinical.loc[events, "pfs_months"],
                               truth.loc[events, "pfs_months_latent"].clip(lower=0.1), atol=0.051)
    # a higher k means longer PFS among the non-operated
    none = group == "none"
    high_k = truth["z_log_k"] > 0
    assert (truth.loc[none & high_k, "pfs_months_latent"].median()
            > truth.loc[none & ~high_k, "pfs_months_latent"].median())


def test_markers_follow_the_true_curve(cohort):
    m = cohort.markers
    s = m[m["event"].isna() & ~m["censored"]]
    t = cohort.truth.set_index("patient_id").loc[s["patient_id"]]
    day = np.maximum(s["day"].to_numpy(), 0)
    floor, c0, k = (t[c].to_numpy() for c in ("floor", "c0", "k"))
    true = floor + (c0 - floor) * np.exp(-k * day)
    change_day = t["assay_change_day"].to_numpy()
    changed = ~np.isnan(change_day) & (s["day"].to_numpy() >= change_day)
    resid = np.log(s["ca125"].to_numpy() / true)
    big = true > 50  # rounding to 0.1 U/mL is negligible there
    sd = resid[big & ~changed].std()
    assert 0.06 <= sd <= 0.08  # CV 7 %
    assert abs(np.median(resid[big & ~changed])) < 0.01
    assert np.median(resid[big & changed]) == pytest.approx(math.log(1.10), abs=0.05)
    # pretreatment samples sit at C0
    pre = s["day"].to_numpy() <= 0
    assert abs(np.median(resid[pre])) < 0.01


# --- determinism, arguments, writing ---------------------------------------------------


def test_same_seed_same_cohort_different_seed_different():
    a, b, c = simulate_cohort(200, 7), simulate_cohort(200, 7), simulate_cohort(200, 8)
    pd.testing.assert_frame_equal(a.markers, b.markers)
    pd.testing.assert_frame_equal(a.clinical, b.clinical)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not np.allclose(a.truth["k"], c.truth["k"])


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"n": 0, "seed": 1}, "simulate_cohort: n (number of patients) must be an integer >= 1"),
        ({"n": -5, "seed": 1}, ">= 1"),
        ({"n": 2.5, "seed": 1}, "integer"),
        ({"n": True, "seed": 1}, "integer"),
        ({"n": 10, "seed": -1}, "seed must be a non-negative integer"),
        ({"n": 10, "seed": "abc"}, "seed must be a non-negative integer"),
        ({"n": 10, "seed": 1, "surgery_fraction": 1.5},
         "surgery_fraction must be a probability in [0, 1]"),
        ({"n": 10, "seed": 1, "surgery_fraction": -0.1}, "surgery_fraction"),
        ({"n": 10, "seed": 1, "surgery_fraction": float("nan")}, "surgery_fraction"),
        ({"n": 10, "seed": 1, "uln": 0}, "uln must be a positive number of U/mL (from 10 to 1000"),
        ({"n": 10, "seed": 1, "uln": 5.0}, "uln must be a positive number of U/mL (from 10 to 1000"),
        ({"n": 10, "seed": 1, "uln": None}, "uln must be a positive number of U/mL, got None"),
        ({"n": 10, "seed": 1, "start_date": "2024-13-01"}, "start_date must be an ISO date"),
    ],
)
def test_bad_arguments_raise_invalid_input(kwargs, needle):
    with pytest.raises(InvalidInputError) as info:
        simulate_cohort(**kwargs)
    assert needle in str(info.value)


@pytest.mark.parametrize("n", [10_000_001, 10_000_000_000_000])
def test_a_cohort_too_large_for_memory_is_refused_before_it_is_drawn(n):
    """10^13 patients ended in numpy's MemoryError (72.8 TiB for the patient ids) with a
    traceback; the cohort is drawn in memory at once, so a size past the maximum is refused by
    name, for the ovarian and the rectal generator (one check)."""
    from ca125kinetics.synth_rectal import simulate_rectal_cohort

    for simulate in (simulate_cohort, simulate_rectal_cohort):
        with pytest.raises(InvalidInputError, match=f"must be at most 10,000,000, got {n:,}: the whole cohort"):
            simulate(n, 1)


def test_bad_format_raises(cohort, tmp_path):
    with pytest.raises(InvalidInputError, match="format must be one of"):
        cohort.write(tmp_path, format="xlsx")
    with pytest.raises(InvalidInputError, match="format must be one of"):
        write_synthetic(10, 1, tmp_path, format="json")
    target = tmp_path / "afile"
    target.write_text("x")
    with pytest.raises(InvalidInputError, match="not a directory"):
        cohort.write(target)


def test_surgery_fraction_extremes():
    none = simulate_cohort(100, 3, surgery_fraction=0.0).clinical
    assert (none["arm"] == "no_surgery").all() and none["complete_resection"].isna().all()
    everyone = simulate_cohort(100, 3, surgery_fraction=1.0).clinical
    assert (everyone["arm"] == "surgery").all() and everyone["complete_resection"].notna().all()


def test_uln_argument_and_start_date():
    c = simulate_cohort(300, 11, uln=30.0, start_date="2020-02-29")
    assert set(c.markers["uln"]) == {30.0}
    start = c.clinical["treatment_start"]
    assert start.min() >= pd.Timestamp("2020-02-29") and start.max() <= pd.Timestamp("2023-02-28")
    assert c.params["call"] == {"n": 300, "seed": 11, "uln": 30.0, "surgery_fraction": 0.75,
                                "start_date": "2020-02-29"}


def test_write_synthetic_csv_and_parquet(tmp_path):
    out = write_synthetic(50, 5, tmp_path / "csv")
    assert out == tmp_path / "csv"
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    pout = write_synthetic(50, 5, tmp_path / "pq", format="parquet")
    m_csv = pd.read_csv(out / "markers.csv", dtype={"patient_id": str, "ca125": str})
    m_pq = pd.read_parquet(pout / "markers.parquet")
    assert m_pq["patient_id"].tolist() == m_csv["patient_id"].tolist()
    assert m_pq["ca125"].fillna("").tolist() == m_csv["ca125"].fillna("").tolist()
    c_pq = pd.read_parquet(pout / "clinical.parquet")
    assert c_pq["patient_id"].iloc[0] == "000001"


def test_public_api_and_to_frame():
    assert ca125kinetics.simulate_cohort is simulate_cohort
    assert ca125kinetics.SyntheticCohort is SyntheticCohort
    c = simulate_cohort(20, 2)
    frame = c.to_frame()
    assert len(frame) == 20 and {"k", "p_complete_resection", "ecog"} <= set(frame.columns)
    assert c.n_patients == 20
    with pytest.raises(AttributeError):
        c.markers = None  # frozen


def test_patient_ids_sort_as_numbers_and_widen():
    from ca125kinetics.synth import _patient_ids

    assert _patient_ids(3).tolist() == ["000001", "000002", "000003"]
    assert _patient_ids(999_999, first=999_998).tolist() == ["999998", "999999"]
    big = _patient_ids(1_000_000, first=999_990)
    assert big[0] == "0999990" and big[-1] == "1000000"
    assert (big[:-1] < big[1:]).all()  # text order = numeric order: sorting keeps patients in order


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_invariants_for_any_seed(n, seed):
    c = simulate_cohort(n, seed)
    m, clin, truth = c.markers, c.clinical, c.truth
    assert clin["patient_id"].is_unique and len(clin) == len(truth) == n
    assert clin["patient_id"].tolist() == truth["patient_id"].tolist()
    assert set(m["patient_id"]) == set(clin["patient_id"])
    # sorted by (patient_id, day) with a RangeIndex and no same-day rows
    assert m.equals(m.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True))
    assert not m.duplicated(["patient_id", "day"]).any()
    s = m[m["event"].isna()]
    assert (s["ca125"] > 0).all() and m.loc[m["event"].notna(), "ca125"].isna().all()
    assert (s.groupby("patient_id")["day"].min() <= 0).all()
    assert (s.loc[s["censored"], "ca125"] == 5.0).all()
    assert (m.groupby("patient_id")["uln"].nunique() == 1).all()
    assert truth["p_complete_resection"].between(0, 1).all()
    assert ((clin["arm"] == "surgery") == clin["complete_resection"].notna()).all()
    assert (clin["pfs_months"] > 0).all() and (clin["pfi_months"] >= 6).all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), shift_days=st.integers(-3000, 3000),
       uln=st.sampled_from([30.0, 35.0, 40.0]))
def test_calendar_and_uln_change_nothing_else(seed, shift_days, uln):
    """Shifting the calendar or the ULN changes dates and ULNs only, never a draw."""
    a = simulate_cohort(30, seed)
    start = (pd.Timestamp("2024-01-01") + pd.Timedelta(days=shift_days)).date().isoformat()
    b = simulate_cohort(30, seed, start_date=start, uln=uln)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.markers.drop(columns="uln"), b.markers.drop(columns="uln"))
    pd.testing.assert_frame_equal(a.clinical.drop(columns="treatment_start"),
                                  b.clinical.drop(columns="treatment_start"))
    delta = b.clinical["treatment_start"] - a.clinical["treatment_start"]
    assert (delta == pd.Timedelta(days=shift_days)).all()
    majority = a.markers["uln"] == 35.0
    assert (b.markers.loc[majority, "uln"] == uln).all()
    assert (b.markers.loc[~majority, "uln"] == 30.0).all()


def test_documented_coefficients_match_params():
    """The module docstring states every coefficient of the resection and PFS models."""
    import ca125kinetics.synth as synth

    doc = " ".join(synth.__doc__.split())
    for block in ("resection", "pfs"):
        for key, value in synth.DEFAULT_PARAMS[block].items():
            if isinstance(value, float):
                assert f"``{key}`` {value!r}" in doc, f"{block}.{key} = {value} not in the docstring"


# --- screening fields (eligibility gate) -------------------------------------------------


def test_screening_fields_do_not_touch_the_other_columns(monkeypatch):
    """The screening fields come from their own stream: drawing them differently changes no
    other column (so the committed cohort's older columns and the shipped model stay valid)."""
    import ca125kinetics.synth as synth
    from ca125kinetics.synth import ELIGIBILITY_COLUMNS

    before = simulate_cohort(400, 11)
    monkeypatch.setattr(synth, "_eligibility_rng", lambda seed: np.random.default_rng(seed + 12345))
    after = simulate_cohort(400, 11)
    other = [c for c in CLINICAL_COLUMNS if c not in ELIGIBILITY_COLUMNS]
    pd.testing.assert_frame_equal(before.clinical[other], after.clinical[other])
    pd.testing.assert_frame_equal(before.markers, after.markers)
    pd.testing.assert_frame_equal(before.truth, after.truth)
    assert not before.clinical[list(ELIGIBILITY_COLUMNS)].equals(after.clinical[list(ELIGIBILITY_COLUMNS)])


def test_screening_field_targets(files):
    """Most patients pass each criterion; every reason to fail occurs; a few fields are empty."""
    _, clinical, _ = files
    from ca125kinetics.synth import ELIGIBILITY_COLUMNS

    n = len(clinical)
    for name in ELIGIBILITY_COLUMNS:
        empty = clinical[name].isna().mean()
        assert 0 < empty < 0.02, name
    assert 0.95 < (clinical["recurrence_number"] == 1).mean() < 0.98
    assert {0, 2, 3} <= set(clinical["recurrence_number"].dropna().astype(int))
    assert 0.65 < (clinical["histology"] == "high_grade_serous").mean() < 0.80
    assert (clinical["histology"] == "borderline").sum() > 0 and (clinical["histology"] == "non_epithelial").sum() > 0
    assert 0.80 < clinical["surgeon_r0_judgement"].mean() < 0.93
    for flag in ("second_malignancy", "platinum_refractory", "palliative_surgery_only", "unresectable_on_imaging",
                 "comorbidity_precludes_treatment", "high_risk_surgical_history", "surgical_risk_medication"):
        assert 0 < clinical[flag].sum() < 0.06 * n, flag
    assert 0.9 < clinical["consent"].mean() < 1 and 0.9 < clinical["archived_tissue"].mean() < 1


def test_surgeon_judgement_follows_the_true_resectability(files):
    _, clinical, truth = files
    judged = clinical["surgeon_r0_judgement"]
    known = judged.notna()
    auc = roc_auc_score(judged[known].astype(int), truth.loc[known, "p_complete_resection"])
    assert 0.6 < auc < 0.85

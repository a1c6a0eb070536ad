"""The GCIG rules reproduce their recorded contract exactly, reasons included.

``tests/data/gcig_contract.parquet`` holds the outputs of ``gcig_cohort``,
``gcig_response`` and ``gcig_progression`` recorded by the per-patient implementation the
kernel replaced, on the committed synthetic cohort and on a generated stress cohort reaching
every branch of the rules (``tests/data/gcig_contract_generator.py`` says how it is
produced). Both executions of the kernel (plain Python and numba-compiled) must give it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd
import pytest

from ca125kinetics import gcig

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import gcig_contract_generator as generator  # noqa: E402

EXPECTED = pd.read_parquet(DATA / "gcig_contract.parquet")

# the stress cohort leaves some samples' ULN empty among given ones on purpose ("the ULN
# differs"); the reader's warning about it is expected
pytestmark = pytest.mark.filterwarnings("ignore:.*uln is empty in :ca125kinetics.errors.DataQualityWarning")


def _round_trip(table: pd.DataFrame) -> pd.DataFrame:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return pd.read_parquet(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_rules_reproduce_the_recorded_contract(monkeypatch, compiled):
    monkeypatch.setattr(gcig, "use_compiled", lambda n_patients: compiled)
    got = _round_trip(generator.build())
    assert got["case"].tolist() == EXPECTED["case"].tolist()
    for case, expected in EXPECTED.groupby("case", sort=False):
        pd.testing.assert_frame_equal(got[got["case"] == case], expected, check_exact=True, obj=case)


@pytest.mark.parametrize("arrow_min", [1, 10 ** 9], ids=["arrow", "lists"])
def test_reasons_joined_by_arrow_or_as_lists_reproduce_the_contract(monkeypatch, arrow_min):
    """The reasons are joined as Python strings for few patients and by Arrow compute for
    many (``_columns.ARROW_MIN``): each way alone, for every template, gives the recorded texts."""
    from ca125kinetics import _columns

    monkeypatch.setattr(_columns, "ARROW_MIN", arrow_min)
    got = _round_trip(generator.build())
    for case, expected in EXPECTED.groupby("case", sort=False):
        pd.testing.assert_frame_equal(got[got["case"] == case], expected, check_exact=True, obj=case)


def test_predict_records_give_the_cohort_columns():
    """``records_gcig`` (predict's batch call, one list per column) and ``gcig_cohort`` are
    the same rules on the same patients: every cell equal, missing cells None."""
    from ca125kinetics import io
    from ca125kinetics.settings import GcigSettings

    syn = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
    clinical = io.read_clinical(syn / "clinical.csv", on_error="flag", require=("patient_id",))
    markers = io.read_markers(syn / "markers.csv", clinical=clinical, on_error="flag")
    settings = GcigSettings()
    records = io.records_from_frames(markers, clinical)
    got = gcig.records_gcig(records, settings)
    table = gcig.gcig_cohort(markers, clinical, settings=settings).set_index("patient_id")
    table = table.loc[[r.patient_id for r in records]]
    assert list(got) == [*gcig.COHORT_COLUMNS[1:], "combined_category"]
    for name, values in got.items():
        expected = [None if pd.isna(v) else v for v in table[name].tolist()]
        assert values == expected, name


def test_cohort_column_types():
    """Column types as before the kernel: ids object, nullable integers and booleans, and text
    columns typed as pandas types text (``str`` from pandas 3; object before), also a column
    with no text at all (no patient has a category): its type does not depend on the rows (it
    was object, so a chunk's table and the whole table differed)."""
    markers, clinical = generator.stress_cohort(60)
    table = gcig.gcig_cohort(markers, clinical)
    text = pd.Series(["x"]).dtype
    fixed = {"patient_id": "object", "uln": "float64", "n_samples": "Int64", "n_excluded": "Int64",
             "baseline_day": "Int64", "baseline_value": "float64", "evaluable": "boolean", "responded": "boolean",
             "response_day": "Int64", "confirmation_day": "Int64", "progressed": "boolean",
             "progression_day": "Int64"}
    for name in table.columns:
        assert table[name].dtype == fixed.get(name, text), name
    none = gcig.gcig_cohort(markers[markers["patient_id"] == "S00000"].assign(ca125=1.0))
    assert none["category"].dtype == text and none["category"].isna().all()


def test_a_frame_not_from_the_reader_is_read_by_it():
    """A frame built by hand is validated by ``io.read_markers`` itself (``on_error="flag"``):
    its invalid patients carry the reader's reasons, the row named by the frame's index, the
    text a file with the same cells gets. (It had its own checks and messages, quoting the
    cells as the frame held them, until the one-validator change.)"""
    markers = pd.DataFrame({"patient_id": ["a", "a", "b", "b"], "day": [0, 30, 0, 30], "ca125": [100, -3, 100, 20]})
    clinical = pd.DataFrame({"patient_id": ["a", "b", "c"], "recist": ["PR", "SD", "CR"]})
    table = gcig.gcig_cohort(markers, clinical).set_index("patient_id")
    assert table.loc["a", "reason"] == ("invalid input: markers table, row 1, column 'ca125': CA-125 value -3 is negative; CA-125 "
                                        "in U/mL cannot be below 0")
    assert table.loc["c", "status"] == "no_markers"
    markers = markers.assign(day=pd.array([0, None, 0, 30], dtype="Int64"), ca125=[100.0, 40.0, 100.0, 20.0])
    table = gcig.gcig_cohort(markers).set_index("patient_id")
    assert table.loc["a", "reason"] == ("invalid input: markers table, row 1, column 'day': day is empty; give whole days from the "
                                        "first dose (day 0)")
    assert table.loc["b", "status"] == "unconfirmed"


def test_a_frame_the_reader_returned_is_not_read_again_until_it_changes(monkeypatch):
    """``gcig_cohort`` takes a frame ``io.read_markers`` returned as it is (no second reading:
    the registry's speed), and reads any changed or derived frame again."""
    from ca125kinetics import io as markers_io

    frame = markers_io.read_markers(pd.DataFrame({"patient_id": ["a", "a"], "day": [0, 21], "ca125": [400.0, 150.0]}))
    assert markers_io.read_unchanged(frame)
    calls = []
    reader = markers_io.read_markers
    monkeypatch.setattr(markers_io, "read_markers", lambda *a, **k: calls.append(1) or reader(*a, **k))
    assert gcig.gcig_cohort(frame)["status"].tolist() == ["unconfirmed"] and not calls
    assert not markers_io.read_unchanged(frame.iloc[:1]) and not markers_io.read_unchanged(frame.copy())
    frame.loc[1, "ca125"] = -5.0           # a cell set after reading: read (and refused) again
    assert not markers_io.read_unchanged(frame)
    table = gcig.gcig_cohort(frame)
    assert calls and table["status"].tolist() == ["invalid_input"] and "is negative" in table.loc[0, "reason"]


def test_without_copy_on_write_every_frame_is_read_again(monkeypatch):
    """pandas 2 sets a cell in place unless copy-on-write is switched on: a changed frame
    would keep its arrays, so there no frame counts as unchanged and each is read again."""
    from ca125kinetics import io as markers_io

    frame = markers_io.read_markers(pd.DataFrame({"patient_id": ["a", "a"], "day": [0, 21], "ca125": [400.0, 150.0]}))
    assert markers_io.read_unchanged(frame)
    monkeypatch.setattr(markers_io, "_copy_on_write", lambda: False)
    assert not markers_io.read_unchanged(frame)


def test_clinical_in_the_patients_order_or_shuffled_gives_the_same_table():
    """Clinical rows in the markers' patient order are taken by position, others looked up
    by identifier: the same table either way, RECIST (missing ones included) and combined
    category too."""
    markers, clinical = generator.stress_cohort(60)
    ids = sorted(markers["patient_id"].astype(str).unique())
    aligned = clinical.set_index(clinical["patient_id"].astype(str)).loc[ids].reset_index(drop=True)
    aligned.loc[::7, "recist"] = None
    shuffled = aligned.sample(frac=1.0, random_state=3).reset_index(drop=True)
    got = gcig.gcig_cohort(markers, aligned)
    pd.testing.assert_frame_equal(got, gcig.gcig_cohort(markers, shuffled), check_exact=True)
    assert got["recist"].isna().tolist() == aligned["recist"].isna().tolist()
    assert got["combined_category"].notna().any()


R_CUSTOM = dict(uln=30.0, evaluable_factor=2.5, baseline_window_days=10, response_fraction=0.6,
                confirmation_days=21, assay_tolerance=1.25, interference_window_days=14,
                progression_factor=1.5, progression_gap_days=10)


@pytest.mark.parametrize("expected, settings", [
    ("gcig_r_expected.csv", {}), ("gcig_r_expected_custom.csv", R_CUSTOM),
    # the literal reading of "two occasions" (R without --sustained)
    ("gcig_r_expected_any.csv", dict(progression_confirmation="any")),
    ("gcig_r_expected_custom_any.csv", dict(R_CUSTOM, progression_confirmation="any")),
    # a broken fall followed by the next fall (R --restart)
    ("gcig_r_expected_restart.csv", dict(response_fall="restart")),
    ("gcig_r_expected_custom_restart.csv", dict(R_CUSTOM, response_fall="restart"))],
    ids=["gcig", "custom", "gcig-any", "custom-any", "gcig-restart", "custom-restart"])
def test_rules_agree_with_the_independent_r_reading(expected, settings):
    """Every field of every patient agrees with an independent base-R reading of the rules.

    ``tests/data/gcig_r_cases.csv`` holds 1,000 adversarial patients
    (``gcig_adversarial_generator.py``, seed 20261130) and its 16 hand-written edge patients
    (``E_*``: no usable sample after the first dose, every one excluded, a baseline only, and
    their neighbours that are not evaluable), and ``gcig_r_expected*.csv`` the output
    of ``gcig_independent.R`` on them, under the GCIG settings and under non-default ones, with
    the flags that select the package's documented Decisions where the rule text admits two
    readings (``gcig_r_README.md`` gives the commands and lists those readings)."""
    import gcig_compare_r as compare

    from ca125kinetics import io as markers_io
    from ca125kinetics.settings import GcigSettings

    r = compare.normalise_r(pd.read_csv(DATA / expected, dtype={"patient_id": str}))
    rules = GcigSettings(**settings)
    frame = markers_io.read_markers(DATA / "gcig_r_cases.csv", on_error="flag", uln=rules.uln)
    got = compare.package_fields(gcig.gcig_cohort(frame, settings=rules))
    agree = compare.compare(got, r)
    assert len(agree) == 1016
    bad = {f: agree.index[~agree[f]].tolist()[:5] for f in compare.FIELDS if not agree[f].all()}
    assert not bad, bad
    # the R reading has its own rule for "nothing after the first dose" (awaiting, response unknown)
    awaiting = r.index[r["status"] == "awaiting"]
    assert len(awaiting) and r.loc[awaiting, "responded"].isna().all()

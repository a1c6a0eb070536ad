"""Tests of settings.py: the provenance columns of output tables (the settings classes
themselves are tested with the rules that use them, in test_gcig.py and test_kinetics.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import ca125kinetics
from ca125kinetics.errors import InvalidInputError
from ca125kinetics.scores import ScoreSettings
from ca125kinetics.settings import PROVENANCE_COLUMNS, GcigSettings, KineticsSettings, with_provenance


def test_rules_and_version_are_the_last_columns_and_round_trip():
    frame = pd.DataFrame({"patient_id": ["1", "2"], "k": [0.05, 0.04]})
    gcig, kin = GcigSettings(uln=30.0), KineticsSettings(k_ref=0.0441)
    out = with_provenance(frame, gcig, kin, ScoreSettings(), method="population")
    assert list(out.columns) == ["patient_id", "k", *PROVENANCE_COLUMNS]
    assert out["package_version"].tolist() == [ca125kinetics.__version__] * 2
    rules = json.loads(out["rules"].iloc[0])
    assert GcigSettings.from_dict(rules["gcig"]) == gcig and KineticsSettings.from_dict(rules["kinetics"]) == kin
    assert rules["method"] == "population" and rules["scores"] == ScoreSettings().to_dict()
    assert ", " not in out["rules"].iloc[0] and ": " not in out["rules"].iloc[0]  # compact JSON
    assert list(frame.columns) == ["patient_id", "k"]  # the input is not changed


def test_restamping_replaces_and_an_empty_table_keeps_its_columns():
    once = with_provenance(pd.DataFrame({"a": [1]}), GcigSettings())
    twice = with_provenance(once, GcigSettings(uln=40.0))
    assert list(twice.columns) == ["a", *PROVENANCE_COLUMNS]
    assert json.loads(twice["rules"].iloc[0])["gcig"]["uln"] == 40.0
    empty = with_provenance(pd.DataFrame({"a": []}), GcigSettings())
    assert list(empty.columns) == ["a", *PROVENANCE_COLUMNS] and empty.empty


def test_two_settings_of_one_kind_are_refused():
    with pytest.raises(InvalidInputError, match="two settings objects of the same kind"):
        with_provenance(pd.DataFrame({"a": [1]}), GcigSettings(), GcigSettings(uln=40.0))


def test_a_setting_added_later_is_recorded_only_away_from_its_default():
    """``progression_confirmation`` came after models were saved: at its default the record
    (``to_dict``, so ``settings_json`` and a saved model's version) is the one made before it
    existed, and reads back as the default; ``"any"`` is recorded; MLflow params list it always."""
    from ca125kinetics.settings import GcigSettings

    default, literal = GcigSettings(), GcigSettings(progression_confirmation="any")
    assert "progression_confirmation" not in default.to_dict()
    assert GcigSettings.from_dict(default.to_dict()) == default
    assert literal.to_dict()["progression_confirmation"] == "any"
    assert GcigSettings.from_dict(literal.to_dict()) == literal
    assert default.to_params()["gcig.progression_confirmation"] == "sustained"


def test_numpy_numbers_are_the_numbers_they_are_and_single_precision_is_refused_with_the_reason():
    """np.int64(35) (a frame's column, a loop over an array) was refused as 'must be a positive
    finite number', and np.float64 was kept as numpy's type in the settings."""
    import numpy as np

    from ca125kinetics import gcig_response, read_markers
    from ca125kinetics.settings import ResponseSettings

    gcig = GcigSettings(uln=np.int64(30), confirmation_days=np.int64(28), response_fraction=np.float64(0.5))
    assert gcig == GcigSettings(uln=30, response_fraction=0.5)
    assert type(gcig.uln) is int and type(gcig.confirmation_days) is int and type(gcig.response_fraction) is float
    kin = KineticsSettings(window_days=np.int32(100), k_ref=np.float64(0.0441))
    assert kin == KineticsSettings(k_ref=0.0441) and type(kin.k_ref) is float
    assert ResponseSettings(clearance_r2_threshold=np.float64(0.8)).to_json() == ResponseSettings(0.8).to_json()
    days, values = [0, 21, 42, 63], [400, 180, 195, 150]
    assert gcig_response(days, values, uln=np.int64(35)) == gcig_response(days, values, uln=35)
    frame = pd.DataFrame({"patient_id": ["a"] * 4, "day": days, "ca125": values})
    assert read_markers(frame, uln=np.int64(30))["uln"].tolist() == [30.0] * 4
    for make in (lambda: GcigSettings(assay_tolerance=np.float32(1.1)), lambda: KineticsSettings(uln=np.float32(35)),
                 lambda: ResponseSettings(clearance_r2_threshold=np.float32(0.9))):
        with pytest.raises(InvalidInputError, match=r"is a single-precision number \(float32: .*\), not the value "
                                                    r"written; give it as a Python float"):
            make()
    with pytest.raises(InvalidInputError, match=r"uln is a single-precision number .*uln=35.0"):
        read_markers(frame, uln=np.float32(35))
    with pytest.raises(InvalidInputError, match="must be a non-negative integer"):
        GcigSettings(confirmation_days=np.bool_(True))


@pytest.mark.parametrize("name, value, says", [
    ("progression_factor", 0.5, "progression_factor' must be at least 1"),
    ("assay_tolerance", 0.9, "assay_tolerance' must be at least 1"),
    ("response_fraction", 1.0, "share of the baseline below 1"),
])
def test_gcig_factors_that_turn_a_rule_around_are_refused(name, value, says):
    # a progression threshold below the nadir, or a tolerance that calls an equal value a rise,
    # would give confident categories for patients whose marker fell or stayed
    with pytest.raises(InvalidInputError, match=says):
        GcigSettings(**{name: value})
    GcigSettings(progression_factor=1.0, assay_tolerance=1.0)    # the edges are rules still (tested in test_gcig)

"""Tests of the marker specifications (markers.py)."""

from __future__ import annotations

import json
import math

import pytest

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.markers import CA125, CEA, MARKERS, MarkerSpec, get_marker, require_gcig_marker


def test_known_markers_and_their_facts():
    assert set(MARKERS) == {"ca125", "cea"}
    assert (CA125.unit, CA125.loinc, CA125.default_uln) == ("U/mL", "10334-1", 35.0)
    assert (CEA.unit, CEA.loinc, CEA.default_uln) == ("ng/mL", "2039-6", 5.0)
    assert set(CEA.uln_alternatives) == {3.0, 5.0, 6.0}
    assert CA125.accepts_unit("kU/L") and CEA.accepts_unit("ug/L")
    assert not CEA.accepts_unit("U/mL")
    assert math.isclose(CA125.typical_half_life_days, math.log(2) / 0.043)
    assert json.loads(CEA.to_json())["name"] == "cea"


@pytest.mark.parametrize("name", ["cea", "CEA", " Cea ", "ca-125", "CA125", "ca_125", None])
def test_get_marker_accepts_spellings(name):
    assert get_marker(name).name in MARKERS


def test_unknown_marker_names_the_known_ones():
    with pytest.raises(InvalidInputError, match="known markers are"):
        get_marker("psa")


def test_gcig_rules_refuse_cea():
    assert require_gcig_marker("ca125") is CA125
    with pytest.raises(InvalidInputError, match="CA-125 only"):
        require_gcig_marker("cea")


def test_spec_validation():
    with pytest.raises(InvalidInputError):
        MarkerSpec(name="CEA", label="x", unit="u", unit_aliases=(), loinc="1", default_uln=1,
                   uln_source="", uln_alternatives=(), plausible_max=1, typical_k_per_day=1,
                   typical_floor=1, gcig_rules=False)
    with pytest.raises(InvalidInputError):
        CEA.__class__(**{**CEA.to_dict(), "default_uln": -1})

"""Tests of ca125kinetics.plots (figures are inspected, never shown)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ca125kinetics.errors import InvalidInputError
from ca125kinetics.kinetics import KineticsPopulation, fit_kinetics
from ca125kinetics.plots import plot_patient
from ca125kinetics.settings import KineticsSettings


def markers(pid="007", days=(-3, 21, 42, 63, 84), values=(600.0, 160.0, 60.0, 25.0, 5.0),
            censored=(False, False, False, False, True), events=()):
    rows = pd.DataFrame({"patient_id": pid, "day": list(days), "ca125": list(values),
                         "censored": list(censored), "uln": 35.0, "event": None, "problem": None})
    for day, kind in events:
        rows.loc[len(rows)] = [pid, day, np.nan, False, 35.0, kind, None]
    return rows.sort_values("day", kind="stable").reset_index(drop=True)


def labels(fig):
    return [line.get_label() for line in fig.axes[0].get_lines()]


def test_plot_shows_series_fit_floor_uln_and_half_baseline():
    data = markers(events=[(30, "paracentesis")])
    fit = fit_kinetics(data, method="per-patient").iloc[0]
    fig = plot_patient(data, fit)
    ax = fig.axes[0]
    names = labels(fig)
    assert "CA-125" in names and 'reported "<x": upper bound (at the limit)' in names
    assert "excluded (event window)" in names                       # day 42 is 12 days after
    assert "ULN 35 U/mL" in names and "50 % of baseline (300)" in names
    assert any(n.startswith("floor ") for n in names) and "fit (per-patient)" in names
    assert ax.get_yscale() == "log"
    assert f"k = {fit['k']:.3g}/day" in ax.get_title() and "KELIM-like score" in ax.get_title()
    curve = next(line for line in ax.get_lines() if line.get_label() == "fit (per-patient)")
    x, y = curve.get_data()
    assert y[x < 0] == pytest.approx(fit["c0"])                     # flat before the first dose
    assert y[-1] == pytest.approx(fit["floor"] + (fit["c0"] - fit["floor"]) * np.exp(-fit["k"] * x[-1]))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("fit", [None, "population"])
def test_censored_sample_is_drawn_as_a_bound_that_the_curve_respects(fit):
    # 120 -> 30 in 21 days would put the curve near 8 U/mL on day 63; "<5" bounds it
    data = markers(values=(420.0, 120.0, 30.0, 5.0, 5.0), censored=(False, False, False, True, True))
    population = KineticsPopulation(mu_log_k=np.log(0.045), sd_log_k=0.45, mu_log_floor=np.log(7.0),
                                    sd_log_floor=0.35, corr_log_k_floor=0.0, sigma=0.07, n_patients=100,
                                    n_samples=400) if fit else None
    fig = plot_patient(data, population)
    ax = fig.axes[0]
    arrows = [a for a in ax.texts if getattr(a, "arrow_patch", None) is not None]
    assert len(arrows) == 2 and all(a.xy[1] < 5.0 for a in arrows)      # pointing down from each "<5"
    x, y = next(line for line in ax.get_lines() if line.get_label().startswith("fit")).get_data()
    for day in (63, 84):
        assert np.interp(day, x, y) <= 5.0 * (1 + 1e-2)                # the curve passes at or below


def test_unscorable_patient_gets_status_in_title_and_no_curve():
    data = markers(values=(30.0, 20.0, 15.0, 12.0, 5.0))
    fig = plot_patient(data)
    assert "at_floor" in fig.axes[0].get_title()
    assert not any(n.startswith("fit") for n in labels(fig))


def test_plot_into_given_axes_and_with_a_population():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    pop = KineticsPopulation(mu_log_k=np.log(0.045), sd_log_k=0.45, mu_log_floor=np.log(7.0), sd_log_floor=0.35,
                             corr_log_k_floor=0.0, sigma=0.07, n_patients=100, n_samples=400)
    assert plot_patient(markers(), pop, ax=ax) is fig
    assert "fit (population)" in labels(fig)


def test_samples_outside_the_window_are_marked():
    fig = plot_patient(markers(days=(-30, -3, 21, 42, 120), censored=(False,) * 5),
                       settings=KineticsSettings(window_days=100))
    assert "outside the analysis window" in labels(fig)


def test_bad_arguments_raise():
    two = pd.concat([markers("A"), markers("B")], ignore_index=True)
    with pytest.raises(InvalidInputError, match="draws one patient, got 2"):
        plot_patient(two)
    with pytest.raises(InvalidInputError, match="one row of fit_kinetics"):
        plot_patient(markers(), fit_kinetics(two, method="loglinear"))


def test_importing_the_package_does_not_import_matplotlib():
    code = "import ca125kinetics, ca125kinetics.plots, sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plot_patient_takes_the_marker():
    from ca125kinetics.io import read_markers
    from ca125kinetics.synth_rectal import simulate_rectal_cohort

    markers = read_markers(simulate_rectal_cohort(30, seed=2).markers, marker="cea")
    one = markers[markers["patient_id"] == markers["patient_id"].iloc[0]]
    fig = plot_patient(one, marker="cea")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "CEA (ng/mL)"
    assert any("ULN 5 ng/mL" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(InvalidInputError, match="pass marker='cea'"):
        plot_patient(one)

"""Figures of tumour-marker kinetics (CA-125, CEA) (presentation only: computation lives in :mod:`.kinetics`).

matplotlib is imported inside the functions, and figures are drawn on the non-interactive
Agg canvas without pyplot (no global figure state, safe in servers and tests), so
``import ca125kinetics`` never imports matplotlib.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import InvalidInputError
from .settings import KineticsSettings

__all__ = ["plot_patient"]

_USAGE_STYLE = {
    "outside_window": dict(marker="x", color="0.55", label="outside the analysis window"),
    "event_window": dict(marker="x", color="tab:red", label="excluded (event window)"),
    "invalid": dict(marker="x", color="tab:red", label="invalid input"),
}


def plot_patient(markers_one_patient: pd.DataFrame, fit=None, *, settings: KineticsSettings | None = None,
                 ax=None, marker=None):
    """Marker series of one patient (CA-125 by default) with its fitted KELIM-like curve.

    Parameters
    ----------
    markers_one_patient : pandas.DataFrame
        Long markers rows of a single patient (canonical frame of
        :func:`ca125kinetics.read_markers`).
    fit : pandas.Series, one-row DataFrame, KineticsPopulation or None
        A row of :func:`ca125kinetics.fit_kinetics` for this patient; a fitted population
        to score the patient with (method ``"population"``); or None, to fit the patient
        alone (method ``"per-patient"``).
    settings : KineticsSettings, optional
        Windows used to mark excluded samples and the fit (default: those of the
        population, else ``KineticsSettings()``).
    ax : matplotlib Axes, optional
        Draw into these axes (their figure is returned); default a new 7 x 4.5 inch figure.
    marker : str or MarkerSpec, optional
        The marker (``"ca125"`` by default, or the population's; ``"cea"``): the value
        column read, the axis label and the unit.

    Returns
    -------
    matplotlib.figure.Figure
        Log-scale CA-125 against days from the first dose: used samples (filled), censored
        ``"<x"`` values (upper bounds: open downward triangles at their limit with an arrow
        pointing down; the fitted curve passes at or below them), excluded samples (crosses),
        events (vertical lines), the fitted curve ``B + (C0 - B) exp(-k t)`` (flat at C0
        before day 0; ``C0 exp(-k t)`` for the log-linear method), the floor B, the ULN and
        50 % of the baseline; the title gives k, the half-life and the KELIM-like score, or
        the status and reason of a patient who could not be scored.
    """
    from matplotlib.figure import Figure   # lazy: matplotlib is heavy
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from .kinetics import KineticsPopulation, _population_marker, _sample_usage, fit_kinetics

    if not isinstance(markers_one_patient, pd.DataFrame) or "patient_id" not in markers_one_patient.columns:
        raise InvalidInputError("plot_patient needs the long markers rows of one patient (a DataFrame)")
    patients = markers_one_patient["patient_id"].dropna().unique()
    if len(patients) != 1:
        raise InvalidInputError(
            f"plot_patient draws one patient, got {len(patients)} ({list(patients[:5])}); "
            "select the rows first, e.g. markers[markers.patient_id == '007']")
    spec = _population_marker(fit if isinstance(fit, KineticsPopulation) else None, marker)
    if settings is None:
        settings = (fit.settings if isinstance(fit, KineticsPopulation)
                    else KineticsSettings(uln=spec.default_uln))
    row = _fit_row(markers_one_patient, fit, settings, KineticsPopulation, fit_kinetics, spec)

    if ax is None:
        fig = Figure(figsize=(7.0, 4.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        fig = ax.figure

    data = markers_one_patient.assign(_usage=_sample_usage(markers_one_patient, settings, spec))
    day = data["day"].to_numpy(dtype=float)
    value = data[spec.name].to_numpy(dtype=float)
    unit = spec.unit
    cens = data["censored"].to_numpy(dtype=bool) if "censored" in data.columns else np.zeros(len(data), bool)
    usage = data["_usage"].to_numpy()
    used = usage == "used"
    ax.plot(day[used & ~cens], value[used & ~cens], "o", color="tab:blue", label=spec.label)
    if np.any(used & cens):
        # an upper bound: an open downward triangle at the limit, with an arrow below it
        ax.plot(day[used & cens], value[used & cens], "v", mfc="none", color="tab:blue",
                label='reported "<x": upper bound (at the limit)')
        for d, v in zip(day[used & cens], value[used & cens]):
            ax.annotate("", xy=(d, v / 1.6), xytext=(d, v), arrowprops=dict(arrowstyle="->", color="tab:blue", lw=1))
    for kind, style in _USAGE_STYLE.items():
        sel = usage == kind
        if sel.any():
            ax.plot(day[sel], value[sel], linestyle="none", **style)
    if "event" in data.columns:
        for d, kind in data.loc[data["event"].notna(), ["day", "event"]].itertuples(index=False):
            ax.axvline(d, color="tab:red", linestyle=":", linewidth=1)
            ax.annotate(str(kind), (d, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                        va="top", ha="right", fontsize=7, color="tab:red")

    uln = float(row["uln"]) if _finite(row.get("uln")) else settings.uln
    ax.axhline(uln, color="tab:green", linestyle=":", linewidth=1, label=f"ULN {uln:g} {unit}")
    if _finite(row.get("baseline_value")):
        half = 0.5 * float(row["baseline_value"])
        ax.axhline(half, color="tab:purple", linestyle="-.", linewidth=1, label=f"50 % of baseline ({half:g})")
    k = row.get("k")
    if _finite(k):
        first = min(float(np.nanmin(day)) if day.size else 0.0, 0.0)
        grid = np.linspace(first, max(float(settings.window_days), float(np.nanmax(day))), 300)
        t = np.maximum(grid, 0.0)
        floor = float(row["floor"]) if _finite(row.get("floor")) else 0.0
        curve = floor + (float(row["c0"]) - floor) * np.exp(-float(k) * t)
        ax.plot(grid, curve, "-", color="tab:orange", label=f"fit ({row['method']})")
        if floor > 0:
            ax.axhline(floor, color="tab:orange", linestyle="--", linewidth=1, label=f"floor {floor:.3g} {unit}")
        title = (f"Patient {patients[0]}: k = {float(k):.3g}/day, half-life {float(row['half_life_days']):.1f} d, "
                 f"KELIM-like score {float(row['kelim_score']):.2f}")
    else:
        title = f"Patient {patients[0]}: {row['status']} ({row['reason']})"
    ax.set_yscale("log")
    ax.set_xlabel("days from first dose")
    ax.set_ylabel(f"{spec.label} ({unit})")
    ax.set_title(title, fontsize=9, wrap=True)
    ax.axvline(settings.window_days, color="0.8", linewidth=1)
    ax.legend(fontsize=7, loc="best")
    return fig


def _fit_row(markers, fit, settings, population_cls, fit_kinetics, spec) -> pd.Series:
    if fit is None:
        return fit_kinetics(markers, method="per-patient", settings=settings, marker=spec).iloc[0]
    if isinstance(fit, population_cls):
        return fit_kinetics(markers, population=fit, settings=settings, marker=spec).iloc[0]
    if isinstance(fit, pd.DataFrame):
        if len(fit) != 1:
            raise InvalidInputError(f"fit must be one row of fit_kinetics, got {len(fit)} rows")
        fit = fit.iloc[0]
    if not isinstance(fit, pd.Series) or not {"k", "c0", "status", "method"} <= set(fit.index):
        raise InvalidInputError("fit must be a row of fit_kinetics, a KineticsPopulation or None")
    return fit


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False

"""Figures of a validation study, rendered for a self-contained HTML report.

Presentation only: every function takes numbers that :mod:`ca125kinetics.validation.studies`
already computed and returns a :class:`matplotlib.figure.Figure`; nothing here computes a
statistic. :func:`to_data_uri` renders a figure as a ``data:image/png;base64,...`` URI, so a
report embeds its figures without external files or network resources.

matplotlib is imported lazily, inside the functions, and only through the object-oriented
API (``matplotlib.figure.Figure`` with the Agg canvas): no ``pyplot`` state machine, no GUI
backend, nothing global changed, safe in threads and servers.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "roc_figure",
    "calibration_figure",
    "decision_curve_figure",
    "km_figure",
    "to_data_uri",
]

#: Colour-blind-safe palette (Okabe & Ito 2008), in order of use.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

_DPI = 110


def _figure(width: float, height: float, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained", **kwargs)
    return fig


def to_data_uri(fig) -> str:
    """Render ``fig`` as PNG and return it as a ``data:image/png;base64,...`` URI.

    The Agg canvas is attached explicitly, so this works whatever matplotlib backend the
    calling process selected.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def roc_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, title="ROC curve"):
    """ROC curves, one line per label, with the chance diagonal.

    Parameters
    ----------
    curves : mapping label -> (fpr, tpr)
        False- and true-positive rates, each in [0, 1]; the label is shown in the legend
        as given (put the AUC in it).
    """
    fig = _figure(5.0, 4.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="chance")
    for i, (label, (fpr, tpr)) in enumerate(curves.items()):
        style = "-" if i == 0 else "--"
        ax.plot(np.asarray(fpr, float), np.asarray(tpr, float), color=PALETTE[i % len(PALETTE)],
                lw=2 if i == 0 else 1.4, ls=style, label=label, drawstyle="default")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity", title=title)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    return fig


def calibration_figure(curve: pd.DataFrame, p_events, p_nonevents, *, title="Calibration", conf_level: float = 0.95):
    """Calibration plot with the distribution of predicted risk underneath.

    Parameters
    ----------
    curve : pandas.DataFrame
        :func:`ca125kinetics.validation.metrics.calibration_curve` output: rows with
        ``curve == "smoothed"`` (lowess line, columns ``predicted``, ``observed``) and
        ``curve == "grouped"`` (points with ``ci_low``/``ci_high`` error bars).
    p_events, p_nonevents : array-like
        Predicted probabilities of patients with and without the outcome: their histograms
        are drawn in the lower panel (outcome 1 up, outcome 0 down), as in Steyerberg's
        ``val.prob.ci`` plots.
    conf_level : float
        The level of the groups' intervals in ``curve``, named in the legend.
    """
    fig = _figure(5.0, 5.6)
    grid = fig.add_gridspec(2, 1, height_ratios=(3.2, 1.0))
    ax = fig.add_subplot(grid[0])
    hist = fig.add_subplot(grid[1], sharex=ax)
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="ideal")
    smooth = curve[curve["curve"] == "smoothed"]
    if len(smooth):
        ax.plot(smooth["predicted"].to_numpy(float), smooth["observed"].to_numpy(float), color=PALETTE[0],
                lw=2, label="lowess")
    grouped = curve[curve["curve"] == "grouped"]
    if len(grouped):
        gx = grouped["predicted"].to_numpy(float)
        gy = grouped["observed"].to_numpy(float)
        err = np.vstack([gy - grouped["ci_low"].to_numpy(float), grouped["ci_high"].to_numpy(float) - gy])
        ax.errorbar(gx, gy, yerr=np.clip(np.nan_to_num(err), 0, None), fmt="o", color=PALETTE[1], ms=4,
                    capsize=2, lw=1, label=f"risk groups ({100 * conf_level:g} % CI)")
    ax.set(xlim=(0, 1), ylim=(-0.02, 1.02), ylabel="observed proportion", title=title)
    ax.tick_params(labelbottom=False)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    bins = np.linspace(0, 1, 51)
    ev, _ = np.histogram(np.asarray(p_events, float), bins=bins)
    ne, _ = np.histogram(np.asarray(p_nonevents, float), bins=bins)
    centres = (bins[:-1] + bins[1:]) / 2
    hist.bar(centres, ev, width=bins[1] - bins[0], color=PALETTE[2], label="outcome 1")
    hist.bar(centres, -ne, width=bins[1] - bins[0], color=PALETTE[3], label="outcome 0")
    hist.axhline(0, color="#333333", lw=0.6)
    top = max(int(ev.max(initial=0)), int(ne.max(initial=0)), 1)
    hist.set(ylim=(-top * 1.15, top * 1.15), xlabel="predicted probability", ylabel="patients")
    hist.yaxis.set_major_formatter(_abs_formatter())
    hist.legend(loc="upper left", fontsize=7, frameon=False, ncol=2)
    return fig


def _abs_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{abs(v):g}")


def decision_curve_figure(frame: pd.DataFrame, *, title="Decision curve"):
    """Net benefit against threshold probability: the model, treat all, treat none.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`ca125kinetics.validation.metrics.net_benefit` output (``threshold,
        net_benefit, treat_all, treat_none``), optionally with ``net_benefit_<strategy>``
        columns (e.g. a published rule), drawn dashed. Its thresholds must hold two
        different values (a curve of one point is refused with ``InvalidInputError``).
    """
    from .metrics import _check_thresholds

    t = _check_thresholds(frame["threshold"].to_numpy(float), distinct=2,
                          why="a decision curve is drawn between thresholds, and needs two points")
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    ax.axhline(0, color="#333333", lw=1, label="treat none")
    ax.plot(t, frame["treat_all"].to_numpy(float), color="#999999", lw=1.4, label="treat all")
    ax.plot(t, frame["net_benefit"].to_numpy(float), color=PALETTE[0], lw=2, label="model")
    extras = [c for c in frame.columns if c.startswith("net_benefit_")]
    for i, column in enumerate(extras, start=1):
        ax.plot(t, frame[column].to_numpy(float), color=PALETTE[i % len(PALETTE)], lw=1.2, ls="--",
                label=column.removeprefix("net_benefit_").replace("_", " "))
    values = frame[["net_benefit", "treat_all"]].to_numpy(float)
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.1
    top = max(top, 0.05)
    ax.set(xlim=(float(t.min()), float(t.max())), ylim=(-0.25 * top, 1.1 * top),
           xlabel="threshold probability", ylabel="net benefit", title=title)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    return fig


def km_figure(km: pd.DataFrame, *, title="Progression-free survival", xlabel="months since randomisation",
              at_risk_times: Sequence[float] | None = None):
    """Kaplan-Meier step curves with pointwise confidence bands, one per group.

    Parameters
    ----------
    km : pandas.DataFrame
        :func:`ca125kinetics.validation.survival.kaplan_meier` output of one analysis:
        ``group, time, n_risk, survival, ci_low, ci_high`` (time 0 included).
    at_risk_times : sequence of float, optional
        Times at which the number at risk of each group is printed under the plot;
        default every 12 months up to the last time.
    """
    fig = _figure(5.8, 4.8)
    ax = fig.add_subplot()
    groups = list(km.groupby("group", sort=False))
    for i, (group, part) in enumerate(groups):
        colour = PALETTE[i % len(PALETTE)]
        t = part["time"].to_numpy(float)
        ax.step(t, part["survival"].to_numpy(float), where="post", color=colour, lw=1.8,
                label=f"{group} (n={int(part['n_risk'].iloc[0])})")
        ax.fill_between(t, part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float),
                        step="post", color=colour, alpha=0.15, lw=0)
    last = float(km["time"].max()) if len(km) else 0.0
    ax.set(ylim=(0, 1.02), xlim=(0, max(last, 1.0)), xlabel=xlabel, ylabel="progression-free", title=title)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    times = list(at_risk_times) if at_risk_times is not None else list(np.arange(0.0, last + 1e-9, 12.0))
    if times:
        width = max(len(_short(g)) for g, _ in groups) if groups else 8
        lines = [f"{'at risk':<{width}}" + "".join(f"{t:>6g}" for t in times)]
        for group, part in groups:
            lines.append(f"{_short(group):<{width}}" + "".join(f"{_at_risk(part, t):>6d}" for t in times))
        ax.text(0.0, -0.2, "\n".join(lines), transform=ax.transAxes, fontsize=6.5, va="top",
                family="monospace")
    return fig


def _short(label) -> str:
    """Group label without its parenthesised explanation, for the at-risk table."""
    return str(label).split(" (")[0][:20]


def _at_risk(part: pd.DataFrame, t: float) -> int:
    """Number at risk at time t: n_risk of the first row at or after t (0 after the last)."""
    times = part["time"].to_numpy(float)
    later = np.flatnonzero(times >= t)
    if later.size:
        return int(part["n_risk"].iloc[later[0]])
    return 0

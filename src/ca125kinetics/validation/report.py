"""Self-contained HTML report of a validation study, MLflow logging, and ``ca125 validate``.

Presentation only: :func:`write_report` renders a :class:`~.studies.ValidationResult` (and
its optional :class:`~.studies.OptimismResult`) as one HTML file that needs nothing else:
CSS is inline, figures are PNG images embedded as ``data:`` URIs (:mod:`.plots`), and the
file references no external script, style sheet, font or image, so it can be archived,
e-mailed or attached to an MLflow run as it is.

Sections: model (name, version, rule settings, training summary), data and participant
flow with every exclusion and its reason, characteristics, performance with intervals
(and the optimism-corrected values when a bootstrap was run), ROC curves, calibration
plot with the distribution of predicted risk, decision curve, published scores on the same
patients, subgroups, progression-free survival (Kaplan-Meier, log-rank, Cox), sample size,
and the TRIPOD items the report covers (Collins et al., BMJ 2015;350:g7594) -- stated
honestly: most items of a TRIPOD paper (title, background, setting, blinding, discussion)
are the authors' to write and are listed as such.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import platform
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .studies import OptimismResult, ValidationResult

__all__ = ["write_report", "render_report", "tripod_items", "log_to_mlflow", "SECTIONS"]

#: ``id`` of every section of the report, in order (tests and links rely on them).
SECTIONS = ("model", "data", "characteristics", "performance", "roc", "calibration", "decision-curve",
            "comparison", "subgroups", "survival", "sample-size", "tripod", "notes")

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef3f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#fff3cd;border:2px solid #d39e00;padding:.8em 1em;margin:1em 0;font-weight:bold}
.disclaimer{background:#f3f3f3;border-left:4px solid #888;padding:.5em 1em}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{margin:0}
figcaption{font-size:.85em;color:#555;max-width:560px}
.muted{color:#666;font-size:.9em}details{margin:.5em 0}
.covered{color:#1a7f37;font-weight:bold}.partly{color:#9a6700;font-weight:bold}.not{color:#666}
code{background:#f3f3f3;padding:0 .2em}
"""

_METRIC_LABELS = {
    "n": "patients analysed",
    "n_events": "complete resections",
    "prevalence": "proportion with complete resection",
    "expected_events": "expected complete resections (sum of p)",
    "auc": "AUC (C-statistic), DeLong CI",
    "citl": "calibration-in-the-large (intercept, offset logit p; 0 ideal)",
    "calibration_slope": "calibration slope (1 ideal)",
    "brier": "Brier score",
    "scaled_brier": "scaled Brier score",
    "oe_ratio": "observed / expected",
    "ici": "ICI (integrated calibration index)",
    "e50": "E50",
    "e90": "E90",
    "emax": "Emax",
    "hosmer_lemeshow_chi2": "Hosmer-Lemeshow chi-square",
    "hosmer_lemeshow_p": "Hosmer-Lemeshow p",
}

#: How the report names the interval methods of ``proportion_ci``.
_CI_METHODS = {"wilson": "Wilson score", "clopper-pearson": "Clopper-Pearson exact"}


# =========================================================================== formatting


def _esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value, digits: int = 3) -> str:
    if value is None or value is pd.NA:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v != 0 and abs(v) < 10 ** -digits:
            return f"{v:.1e}"
        if float(v).is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:.{digits}f}"
    return str(value)


def _ci(low, high, digits: int = 3) -> str:
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (low, high)):
        return "-"
    return f"{_fmt(low, digits)} to {_fmt(high, digits)}"


def _pvalue(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _table(frame: pd.DataFrame, *, columns: dict | None = None, digits: int = 3, max_rows: int | None = None) -> str:
    """HTML table of ``frame`` (``columns``: source column -> header, in order)."""
    columns = columns or {c: c for c in frame.columns}
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{_esc(h)}</th>" for h in columns.values())
    body = []
    for _, row in shown.iterrows():
        cells = []
        for c in columns:
            v = row[c]
            numeric = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            text = _pvalue(v) if c == "p_value" else _fmt(v, digits)
            cells.append(f'<td class="num">{_esc(text)}</td>' if numeric else f"<td>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if max_rows is not None and len(frame) > max_rows:
        more = f'<p class="muted">{len(frame) - max_rows} more row(s) not shown.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _kv_table(pairs) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def _readable(label: str, value) -> list[tuple[str, str]]:
    """(label, text) rows for a value of the training summary: nested mappings become one
    row per leaf (``training: config.cv.n_splits``), lists are joined, records read as
    "key value" phrases; never raw JSON."""
    if isinstance(value, dict):
        if not value:
            return [(label, "-")]
        out = []
        for key in sorted(value):
            out.extend(_readable(f"{label}.{key}", value[key]))
        return out
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, dict) for v in value) and value:
            return [(label, "; ".join(", ".join(f"{k} {_fmt(v) if isinstance(v, (int, float)) else v}"
                                               for k, v in item.items()) for item in value))]
        return [(label, ", ".join(_fmt(v) if isinstance(v, (int, float)) else str(v) for v in value) or "-")]
    return [(label, _fmt(value) if isinstance(value, (int, float)) else str(value))]


def _figure(fig, caption: str, alt: str) -> str:
    from .plots import to_data_uri

    uri = to_data_uri(fig)
    return (f'<figure><img src="{uri}" alt="{_esc(alt)}"><figcaption>{_esc(caption)}</figcaption>'
            f"</figure>")


# =========================================================================== sections


def _section_model(result: ValidationResult) -> str:
    m = result.model
    summary = m.get("training_summary") or {}
    pairs = [("name", m["name"]), ("version", m["version"]), ("model family", m["family"]),
             ("decision threshold on the probability", _fmt(m["threshold"])),
             ("trained on synthetic data", "yes" if m["trained_on_synthetic"] else "no")]
    for key in sorted(summary):
        pairs.extend(_readable(f"training: {key}", summary[key]))
    settings = []
    for label, key in (("GCIG rule settings", "gcig_settings"), ("kinetics settings", "kinetics_settings")):
        values = m.get(key) or {}
        if values:
            settings.append(f"<h3>{_esc(label)}</h3>" + _kv_table((k, values[k]) for k in sorted(values)))
    return ('<p>The model was used as frozen: no coefficient, population parameter or threshold was '
            're-estimated on this cohort. Every patient was scored through <code>predict_cohort</code>, '
            'the code path of <code>ca125 score</code> and the web service.</p>'
            + _kv_table(pairs) + "".join(settings))


def _section_data(result: ValidationResult) -> str:
    src = result.source
    counts = result.exclusions["reason"].value_counts()
    summary = ", ".join(f"{_esc(r)}: {int(n)}" for r, n in counts.items()) or "none"
    parts = [_kv_table([("markers", src.get("markers", "")), ("clinical", src.get("clinical", ""))]),
             "<h3>Participant flow</h3>", _table(result.flow, columns={"step": "step", "n": "patients"}),
             "<p>Analysed: valid input, scored by the model (a probability: a decision withheld by "
             "<code>ca125 score</code> for an unknown predictor or an undetermined entry criterion does not "
             "exclude), and the outcome <code>complete_resection</code> observed. The outcome is never imputed "
             "(complete-case analysis of the outcome); missing predictors are handled by the frozen model as "
             "in training.</p>",
             f"<h3>Excluded patients ({len(result.exclusions)}; {summary})</h3>"]
    if len(result.exclusions):
        state = " open" if len(result.exclusions) <= 50 else ""
        parts.append(f"<details{state}><summary>every excluded patient and the reason</summary>"
                     + _table(result.exclusions, columns={"patient_id": "patient", "reason": "reason",
                                                          "detail": "detail"})
                     + "</details>")
    else:
        parts.append("<p>None.</p>")
    ranges = result.case_mix
    if ranges is not None and len(ranges):
        parts.append("<h3>Case mix against the training data</h3>"
                     "<p>Analysed patients with a value outside the range seen in training "
                     "(the model extrapolates there).</p>"
                     + _table(ranges, columns={"feature": "feature", "training_min": "training min",
                                               "training_max": "training max", "n_checked": "patients with a value",
                                               "n_outside": "outside the training range"}))
    return "".join(parts)


def _section_characteristics(result: ValidationResult) -> str:
    return ("<p>Analysed patients, overall and by outcome: counts (%) or median [interquartile range].</p>"
            + _table(result.characteristics, columns={"characteristic": "characteristic", "level": "",
                                                      "all": "all", "outcome_1": "complete resection",
                                                      "outcome_0": "residual disease"}))


#: Digits of the optimism columns; the corrected value shown is computed from the rounded
#: apparent value and optimism, so that the columns add up as printed.
_OPTIMISM_DIGITS = 3


def _adds_up(apparent, optimism) -> tuple[float, float, float]:
    """(apparent, optimism, corrected) as printed: the first two rounded to
    :data:`_OPTIMISM_DIGITS`, corrected = their difference (NaN when either is missing)."""
    if any(v is None or not math.isfinite(float(v)) for v in (apparent, optimism)):
        return (math.nan if apparent is None else float(apparent)), math.nan, math.nan
    a, o = round(float(apparent), _OPTIMISM_DIGITS), round(float(optimism), _OPTIMISM_DIGITS)
    return a, o, round(a - o, _OPTIMISM_DIGITS) + 0.0


#: Rows of the development-versus-validation table: (label, training-summary key, metric).
_DEV_VS_VAL = (("patients analysed", "n", "n"), ("complete resections", "events", "n_events"),
               ("AUC", "auc", "auc"), ("calibration slope", "calibration_slope", "calibration_slope"),
               ("calibration-in-the-large", "citl", "citl"), ("Brier score", "brier", "brier"))


def _development_vs_validation(result: ValidationResult) -> str:
    """Side-by-side table of the model's development performance (from its training summary)
    and its performance on this cohort."""
    summary = result.model.get("training_summary") or {}
    if not summary:
        return ("<h3>Development versus validation</h3><p>The model records no training summary, so its "
                "development performance cannot be shown beside this cohort's.</p>")
    m = result.metrics
    rows = []
    # the counts of the patients the development figures were measured on: the held-out set
    # (a model that does not record its events there shows none), or the development set
    measured = {"n": summary.get("n_evaluated"), "events": summary.get("events_evaluated")}
    if measured["n"] is None:
        held_out = summary.get("evaluation_set") == "held-out"
        measured = ({"n": summary.get("n_holdout"), "events": None} if held_out
                    else {"n": summary.get("n"), "events": summary.get("events")})
    for label, dev_key, metric in _DEV_VS_VAL:
        dev = measured[dev_key] if dev_key in measured else summary.get(dev_key)
        val = getattr(m, metric)
        integer = metric in ("n", "n_events")
        dev_text = "-" if dev is None else (f"{int(dev):,}" if integer else _fmt(dev))
        val_text = f"{int(val):,}" if integer else _fmt(val)
        if metric == "auc":
            dev_ci = summary.get("auc_ci") or (None, None)
            dev_text += f" ({_ci(*dev_ci)})" if dev is not None and None not in dev_ci else ""
            val_text += f" ({_ci(m.auc_ci_low, m.auc_ci_high)})"
        diff = "-" if dev is None or integer else _fmt(float(val) - float(dev))
        rows.append({"metric": label, "development": dev_text, "validation": val_text, "difference": diff})
    dev_n, dev_e = measured["n"], measured["events"]
    if dev_n and dev_e is not None:
        rows.append({"metric": "proportion with complete resection", "development": _fmt(dev_e / dev_n),
                     "validation": _fmt(m.prevalence), "difference": _fmt(m.prevalence - dev_e / dev_n)})
    where = summary.get("evaluation_set", "development")
    own = ("<p><strong>This cohort is the model's own training cohort</strong> (its data digest is the one the "
           "model recorded at training): the figures below are apparent performance, not a validation; "
           "validate on patients the model has not seen.</p>" if result.source.get("training_cohort") else "")
    return ("<h3>Development versus validation</h3>" + own +
            f"<p>Development: the model's own evaluation at training ({_esc(where)} patients of the training "
            f"cohort, {_esc(summary.get('date', 'date not recorded'))}); validation: this cohort. Difference = "
            "validation - development. A fall in AUC or a calibration slope below 1 on new patients is expected; "
            "a large one means the model does not transport to this population.</p>"
            + _table(pd.DataFrame(rows), columns={"metric": "metric", "development": "development",
                                                   "validation": "validation", "difference": "difference"}))


def _section_performance(result: ValidationResult) -> str:
    frame = result.to_frame()
    rows = []
    for _, r in frame.iterrows():
        digits = 0 if r["metric"] in ("n", "n_events") else 3
        row = {"metric": _METRIC_LABELS.get(r["metric"], r["metric"]), "estimate": _fmt(r["estimate"], digits)
               if r["metric"] not in ("n", "n_events") else f"{int(r['estimate']):,}",
               "ci": _ci(r["ci_low"], r["ci_high"])}
        if "corrected" in frame.columns:
            row["apparent"], row["optimism"], row["corrected"] = _adds_up(r["apparent"], r["optimism"])
        rows.append(row)
    level = _level(result)
    cols = {"metric": "metric", "estimate": "estimate (frozen model)", "ci": f"{level} CI"}
    if "corrected" in frame.columns:
        cols.update(apparent="apparent (refitted)", optimism="- optimism", corrected="= corrected")
    out = [_development_vs_validation(result), "<h3>On this cohort</h3>",
           _table(pd.DataFrame(rows), columns=cols),
           '<p class="muted">AUC: Mann-Whitney estimate, DeLong interval. Calibration-in-the-large: '
           "intercept <i>a</i> of logit P(y=1) = <i>a</i> + offset(logit <i>p</i>); calibration slope: "
           "<i>b</i> of logit P(y=1) = <i>a</i> + <i>b</i> logit <i>p</i> (Van Calster et al. 2019). "
           "Brier = mean (<i>p</i> - <i>y</i>)&sup2;. ICI/E50/E90/Emax: absolute difference between the "
           "lowess calibration curve and <i>p</i> (Austin &amp; Steyerberg 2019). Intervals: calibration-in-the-"
           "large and slope Wald; observed / expected exp(ln O/E &plusmn; z &radic;((1 - prevalence) / events)) "
           "(Riley et al. 2021)."
           + (" Optimism columns: the pipeline refitted on this cohort has the apparent value; minus the "
              "bootstrap optimism it gives the corrected value (computed from the rounded numbers shown, so "
              "the columns add up as printed). The frozen model's estimate is not the refitted apparent value."
              if "corrected" in frame.columns else "") + "</p>"]
    t = result.threshold
    out.append(f"<h3>At the model's threshold (positive = probability &ge; {t.threshold:g})</h3>")
    out.append(_table(t.to_frame(), columns={"metric": "metric", "estimate": "estimate", "ci_low": "CI low",
                                             "ci_high": "CI high", "numerator": "numerator",
                                             "denominator": "denominator"}))
    out.append(f'<p class="muted">{_CI_METHODS.get(t.ci_method, t.ci_method)} {_level(result)} intervals of '
               "each proportion (numerator / denominator).</p>")
    if result.optimism is not None:
        out.append(_optimism_block(result.optimism))
    return "".join(out)


def _optimism_block(opt: OptimismResult) -> str:
    table = opt.table.copy()
    text = (f"<h3>Internal validation: Harrell's optimism-corrected bootstrap</h3>"
            f"<p>{opt.n_boot} bootstrap resamples of the {opt.n} analysed patients ({opt.n_events} with the "
            f"outcome), {'resamples given by the caller' if opt.seed is None else f'seed {opt.seed}'}; the whole pipeline (<code>{_esc(opt.pipeline)}</code>), the kinetics "
            f"population included, was refitted on each resample and tested on the resample and on the original "
            f"sample; optimism = mean(bootstrap - test), corrected = apparent - optimism (Harrell et al. 1996). "
            f"{opt.n_failed} resample(s) failed and were left out; {opt.elapsed_seconds:.1f} s on "
            f"{_workers_text(opt)}. This is internal validation of the modelling <em>procedure</em> on "
            f"this cohort, meaningful when the cohort is the development data.</p>")
    shown = [_adds_up(a, o) for a, o in zip(table["apparent"], table["optimism"])]
    table = table.assign(apparent=[x[0] for x in shown], optimism=[x[1] for x in shown],
                         corrected=[x[2] for x in shown])
    text += _table(table, columns={"metric": "metric", "bootstrap": "mean on resample",
                                   "test": "mean on original", "optimism_sd": "SD of optimism",
                                   "apparent": "apparent", "optimism": "- optimism", "corrected": "= corrected",
                                   "n_resamples": "resamples"})
    if opt.failures:
        text += "<details><summary>failed resamples</summary><ul>" + "".join(
            f"<li>{_esc(f)}</li>" for f in opt.failures) + "</ul></details>"
    if opt.warnings:
        text += "<details><summary>warnings during refits</summary><ul>" + "".join(
            f"<li>{_esc(w)}</li>" for w in opt.warnings[:20]) + "</ul></details>"
    return text


def _section_roc(result: ValidationResult) -> str:
    from .plots import roc_figure

    curves = {f"model (AUC {result.metrics.auc:.3f})": (result.roc["fpr"], result.roc["sensitivity"])}
    names = dict(zip(result.comparison["score"], result.comparison["auc"]))
    for score, part in result.roc_scores.groupby("score", sort=False):
        curves[f"{score} (AUC {names.get(score, math.nan):.3f})"] = (part["fpr"], part["sensitivity"])
    fig = roc_figure(curves)
    return _figure(fig, "ROC curves of the model and of the comparators, each on the patients where it is "
                        "available (see the comparison table).", "ROC curves")


def _level(result: ValidationResult) -> str:
    """The level of the study's intervals as the report writes it ("95 %")."""
    return f"{100 * result.metrics.conf_level:g} %"


def headline_figures(result: ValidationResult) -> str:
    """The study's main figures in one line, as the report's headline and ``ca125 validate``
    print them: AUC with its DeLong interval, calibration slope, CITL and Brier; a figure that
    could not be estimated (the slope under separation) says so rather than "nan"."""
    m = result.metrics

    def shown(value: float, digits: int) -> str:
        return f"{value:.{digits}f}" if math.isfinite(value) else "not estimable"

    return (f"AUC {shown(m.auc, 3)} ({_level(result)} DeLong CI {shown(m.auc_ci_low, 3)} to "
            f"{shown(m.auc_ci_high, 3)}), calibration slope {shown(m.calibration_slope, 2)}, "
            f"CITL {shown(m.citl, 2)}, Brier {shown(m.brier, 3)}")


def _section_calibration(result: ValidationResult) -> str:
    from .plots import calibration_figure

    pred = result.predictions[result.predictions["included"]]
    y = pred["complete_resection"].to_numpy(dtype=float)
    p = pred["probability"].to_numpy(dtype=float)
    m = result.metrics
    fig = calibration_figure(result.calibration, p[y == 1], p[y == 0], conf_level=m.conf_level)
    return _figure(fig, f"Calibration: lowess curve and risk-group proportions (10 groups, Wilson "
                        f"{_level(result)} CI); "
                        f"below, the distribution of predicted probabilities by outcome. Slope "
                        f"{m.calibration_slope:.2f}, CITL {m.citl:.2f}, ICI {m.ici:.3f}.",
                   "calibration plot with risk distribution")


def _section_decision(result: ValidationResult) -> str:
    from .plots import decision_curve_figure

    fig = decision_curve_figure(result.decision_curve)
    dc = result.decision_curve
    t = result.model["threshold"]
    at = dc[dc["threshold"] == t]    # validate_model always puts the model's threshold on the curve
    row = at.iloc[0] if len(at) else None
    text = ("<p>Net benefit of operating on patients with a predicted probability of complete resection at "
            "or above the threshold probability (Vickers &amp; Elkin 2006). "
            + (f"At the model's threshold {t:g}: model {_fmt(row['net_benefit'])}, treat all "
               f"{_fmt(row['treat_all'])}, treat none 0.</p>" if row is not None
               else f"The curve was not computed at the model's threshold {t:g}.</p>"))
    drawn, left_out = [], []
    for r in result.decision_rules.itertuples():
        if r.drawn:
            nb = "" if row is None else f": net benefit {_fmt(row[f'net_benefit_{r.rule}'])} at the model's threshold"
            drawn.append(f"<li>{_esc(r.description)} (dashed){nb}</li>")
        else:
            left_out.append(f"<li>{_esc(r.description)}: left out, because it is available for {r.n_available:,} "
                            f"of the {r.n_analysed:,} analysed patients (a net benefit needs a decision for every "
                            f"patient; see the comparison table for the score's AUC where it is known)</li>")
    text += "<p>Published rules, each as the strategy \"operate when the rule says so\":</p><ul>" \
        + "".join(drawn + left_out) + "</ul>"
    return text + _figure(fig, "Decision curve: model, operate on all, operate on none"
                               + (", and the published binary rules (dashed)" if drawn else "") + ".",
                          "decision curve")


def _section_comparison(result: ValidationResult) -> str:
    cols = {"score": "score", "description": "description", "n": "n", "n_events": "events", "auc": "AUC",
            "auc_ci_low": "CI low", "auc_ci_high": "CI high", "model_auc": "model AUC (same patients)",
            "difference": "model - score", "difference_ci_low": "CI low", "difference_ci_high": "CI high",
            "p_value": "DeLong p", "note": "note"}
    return ("<p>Published selection scores and the KELIM-like score alone, on the same patients, each as a "
            f"ranking (higher = likelier complete resection). AUC: Mann-Whitney estimate with its {_level(result)} "
            "DeLong interval; model - score: the difference of the two AUCs on the same patients with its "
            f"{_level(result)} DeLong interval and the two-sided p of the paired DeLong test.</p>"
            + _table(result.comparison, columns=cols))


def _section_subgroups(result: ValidationResult) -> str:
    cols = {"variable": "variable", "level": "level", "n": "n", "n_events": "events", "observed": "observed",
            "expected": "mean predicted", "auc": "AUC", "auc_ci_low": "CI low", "auc_ci_high": "CI high",
            "citl": "CITL", "calibration_slope": "slope", "oe_ratio": "O/E", "brier": "Brier", "note": "note"}
    return ("<p>Subgroups are descriptive: they were not powered, and the intervals are not adjusted for "
            f"multiplicity. AUC: Mann-Whitney estimate with its {_level(result)} DeLong interval; CITL, slope, "
            "O/E and Brier as in the Performance section (their intervals are not shown here).</p>"
            + _table(result.subgroups, columns=cols))


def _section_survival(result: ValidationResult) -> str:
    from .plots import km_figure

    s = result.survival
    if s is None:
        return "<p>Not run: the clinical table has no <code>pfs_months</code>/<code>pfs_event</code>.</p>"
    titles = {"kelim_group": "PFS by KELIM-like group (all patients)", "arm": "PFS by arm",
              "kelim_group_surgery": "PFS by KELIM-like group, surgery arm",
              "predicted_group": "PFS by the model's predicted group (all patients)",
              "predicted_group_surgery": "PFS by the model's predicted group, surgery arm"}
    figs = []
    for analysis, part in s.km.groupby("analysis", sort=False):
        fig = km_figure(part, title=titles.get(analysis, analysis))
        figs.append(_figure(fig, f"Kaplan-Meier estimate with {_level(result)} log-log "
                                 f"pointwise band: "
                                 f"{titles.get(analysis, analysis)}.", f"Kaplan-Meier {analysis}"))
    out = [f"<p>{s.n_patients} patients with progression-free survival known. KELIM-like group: favourable "
           f"when the standardized score k / k_ref &ge; {s.kelim_cutoff:g} (model's kinetics settings). "
           f"Predicted group: the "
           f"model's probability at or above its threshold, or below it (outside the surgery arm a prognostic "
           f"grouping, not the effect of surgery). Comparisons of arms are "
           f"randomised only in a trial; complete resection is observed after randomisation, so its hazard "
           f"ratio is associational.</p>",
           '<div class="figs">' + "".join(figs) + "</div>",
           "<h3>Median PFS (months; - = not reached)</h3>",
           f'<p class="muted">Median with its {_level(result)} Brookmeyer-Crowley interval, read from the '
           "log-log pointwise band of the Kaplan-Meier curve (R quantile(survfit(..., conf.type = "
           '"log-log"))).</p>',
           _table(s.medians, columns={"analysis": "analysis", "group": "group", "n": "n", "n_events": "events",
                                      "median": "median", "ci_low": "CI low", "ci_high": "CI high"}, digits=1)]
    if len(s.logrank):
        out += ["<h3>Log-rank tests</h3>", _table(s.logrank, columns={"analysis": "analysis", "chi2": "chi-square",
                                                                       "df": "df", "p_value": "p"})]
    if len(s.cox):
        out += ["<h3>Cox proportional-hazards models (Efron ties)</h3>",
                f'<p class="muted">Hazard ratio exp(coef) with its {_level(result)} Wald interval; p: Wald '
                "test of coef = 0; n and events: the complete cases the model was fitted on.</p>",
                _table(s.cox, columns={"model": "model", "term": "term", "hr": "HR", "hr_ci_low": "CI low",
                                       "hr_ci_high": "CI high", "p_value": "p", "n": "n", "n_events": "events"})]
    if s.notes:
        out.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in s.notes) + "</ul>")
    return "".join(out)


def _section_sample_size(result: ValidationResult) -> str:
    ss = result.sample_size
    if ss is None:
        return "<p>Not computed (see notes).</p>"
    final = ss[ss["criterion"] == "final"].iloc[0]
    available = int(ss["available"].iloc[0])
    verdict = "reach" if available >= final["n"] else "fall short of"
    return (f"<p>Minimum sample size for a precise external validation (Riley et al. 2021; 95 % CI widths: O/E "
            f"0.2, calibration slope 0.2, C-statistic 0.1), taking the observed prevalence, AUC and distribution "
            f"of the linear predictor as the anticipated values: {int(final['n']):,} patients. The "
            f"{available:,} analysed patients {verdict} that minimum.</p>"
            + _table(ss.assign(events=ss["events"].round(1)),
                     columns={"criterion": "criterion", "description": "target", "n": "n", "events": "events",
                              "se": "target SE"}))


# =========================================================================== TRIPOD


def tripod_items(result: ValidationResult) -> pd.DataFrame:
    """TRIPOD 2015 checklist items for a validation report and what this report covers.

    Returns
    -------
    pandas.DataFrame
        ``item, topic, status, where``; ``status`` is ``"covered"``, ``"partly"`` or ``"not
        covered"`` (the authors' part of a paper: title, background, setting, blinding,
        discussion, funding). Items for model development only (10a, 10b, 14, 15) are not
        listed.
    """
    ss = result.sample_size is not None
    development = bool(result.model.get("training_summary")) or (result.case_mix is not None
                                                                   and len(result.case_mix) > 0)
    dev_status = "partly" if development else "not covered"
    rows = [
        ("1", "Title", "not covered", "the paper's title is the authors'"),
        ("2", "Abstract", "not covered", "authors"),
        ("3a", "Background: context and rationale", "not covered", "authors"),
        ("3b", "Objectives", "partly", "report header: validation of the named model for complete resection"),
        ("4a", "Source of data: study design", "partly", "Data section names the input files; the design is the "
                                                        "authors'"),
        ("4b", "Dates of accrual and follow-up", "not covered", "authors"),
        ("5a", "Setting, number and location of centres", "not covered", "authors"),
        ("5b", "Eligibility criteria", "partly", "Data section: analysis criteria (valid input, scored, outcome "
                                                 "observed); clinical eligibility is the authors'"),
        ("5c", "Treatments received", "partly", "arm shown where recorded; treatment details are the authors'"),
        ("6a", "Outcome definition", "covered", "complete_resection: no macroscopic residual disease at secondary "
                                                "cytoreduction (data contract)"),
        ("6b", "Blinding of outcome assessment", "not covered", "authors"),
        ("7a", "Predictors: definition", "partly", "Model section: the frozen model and its rule settings; "
                                                   "predictor definitions in the package's data contract"),
        ("7b", "Blinding of predictor assessment", "not covered", "authors"),
        ("8", "Sample size", "covered" if ss else "not covered",
         "Sample size section (Riley et al. 2021)" if ss else "not computed"),
        ("9", "Missing data", "covered", "Data section: complete-case for the outcome, every exclusion listed; "
                                         "missing predictors handled by the frozen model; counts of missing in "
                                         "Characteristics"),
        ("10c", "How predictions were calculated (validation)", "covered", "Model section: frozen model, "
                                                                            "name/version/settings, one scoring path"),
        ("10d", "Measures of performance", "covered", "Performance section (definitions under the table)"),
        ("10e", "Model updating", "not covered", "no updating was done (not applicable)"),
        ("11", "Risk groups", "covered", "threshold metrics at the model's threshold; KELIM-like groups"),
        ("12", "Differences from development data", dev_status,
         "Model section (training summary) and case mix against the training ranges" if development
         else "the model records no training summary or feature ranges"),
        ("13a", "Participant flow and outcome counts", "covered", "Data section: flow and exclusions"),
        ("13b", "Participant characteristics", "covered", "Characteristics section, with missing counts"),
        ("13c", "Comparison with development data", dev_status,
         "training summary and range checks; a full side-by-side table needs the development data"),
        ("16", "Model performance with confidence intervals", "covered",
         "Performance, ROC, Calibration, Decision curve sections"
         + ("; optimism-corrected bootstrap" if result.optimism is not None else "")),
        ("17", "Model updating results", "not covered", "no updating (not applicable)"),
        ("18", "Limitations", "not covered", "authors"),
        ("19a", "Interpretation against development performance", dev_status,
         "numbers side by side; the interpretation is the authors'"),
        ("19b", "Overall interpretation", "not covered", "authors"),
        ("20", "Implications for practice and research", "not covered", "authors"),
        ("21", "Supplementary information", "covered", "this report: subgroups, published scores, survival"),
        ("22", "Funding", "not covered", "authors"),
    ]
    return pd.DataFrame(rows, columns=["item", "topic", "status", "where"])


def _section_tripod(result: ValidationResult) -> str:
    items = tripod_items(result)
    body = "".join(
        f"<tr><td>{_esc(r.item)}</td><td>{_esc(r.topic)}</td><td class=\"{r.status.split()[0]}\">"
        f"{_esc(r.status)}</td><td>{_esc(r.where)}</td></tr>" for r in items.itertuples())
    n_cov = int((items["status"] == "covered").sum())
    n_part = int((items["status"] == "partly").sum())
    return (f"<p>TRIPOD 2015 (Collins et al., BMJ 2015;350:g7594) items of a validation study: this report covers "
            f"{n_cov} and partly covers {n_part} of {len(items)}; the rest are the authors' to write. Items for "
            f"model development only (10a, 10b, 14, 15) are not listed.</p>"
            f"<table><thead><tr><th>item</th><th>topic</th><th>status</th><th>where</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _section_notes(result: ValidationResult) -> str:
    notes = list(result.notes)
    if not notes:
        return "<p>None.</p>"
    return "<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>"


# =========================================================================== report


def render_report(result: ValidationResult, *, title: str | None = None) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    if not isinstance(result, ValidationResult):
        raise InvalidInputError(f"result must be a ValidationResult (validate_model), got {type(result).__name__}")
    from .. import __version__

    m = result.model
    title = title or f"Validation of {m['name'] or 'the model'} {m['version']}".strip()
    synthetic = bool(m.get("trained_on_synthetic"))
    banner = ('<div class="banner" id="synthetic-banner">Model trained on synthetic data &mdash; not for clinical '
              "use. Its performance here says nothing about real patients.</div>") if synthetic else ""
    sections = [
        ("model", "Model", _section_model),
        ("data", "Data, participant flow and exclusions", _section_data),
        ("characteristics", "Characteristics of the analysed patients", _section_characteristics),
        ("performance", "Performance", _section_performance),
        ("roc", "ROC curves", _section_roc),
        ("calibration", "Calibration", _section_calibration),
        ("decision-curve", "Decision curve", _section_decision),
        ("comparison", "Published scores on the same patients", _section_comparison),
        ("subgroups", "Subgroups", _section_subgroups),
        ("survival", "Progression-free survival", _section_survival),
        ("sample-size", "Sample size", _section_sample_size),
        ("tripod", "TRIPOD items covered", _section_tripod),
        ("notes", "Notes", _section_notes),
    ]
    nav = " &middot; ".join(f'<a href="#{sid}">{_esc(name)}</a>' for sid, name, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_esc(name)}</h2>{render(result)}</section>'
                   for sid, name, render in sections)
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    m_ = result.metrics
    headline = (f"{m_.n:,} patients analysed ({m_.n_events:,} complete resections, {len(result.exclusions):,} "
                f"excluded). {headline_figures(result)}.")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(title)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>{banner}"
        f"<p class=\"disclaimer\">Research software, not a medical device. Outcome: complete resection (no "
        f"macroscopic residual disease) at secondary cytoreduction.</p>"
        f"<p><strong>{_esc(headline)}</strong></p>"
        f"<nav class=\"muted\">{nav}</nav>{body}"
        f"<hr><p class=\"muted\">Generated {generated} by ca125kinetics {_esc(__version__)} (Python "
        f"{_esc(platform.python_version())}). Self-contained file: no external resources.</p>"
        "</body></html>\n"
    )


def write_report(result: ValidationResult, path, *, title: str | None = None) -> Path:
    """Write a self-contained HTML report of a validation study.

    Parameters
    ----------
    result : ValidationResult
        From :func:`~ca125kinetics.validation.studies.validate_model` (optionally with an
        optimism result attached by ``result.with_optimism(...)``).
    path : str or Path
        Output ``.html`` file; parent directories are created.
    title : str, optional
        Report title (default "Validation of <model name> <version>").

    Returns
    -------
    Path
        The report's path.

    Notes
    -----
    Writing a report never logs anything: :func:`log_to_mlflow` logs the metrics and the
    report to MLflow when asked (``ca125 validate`` does so with ``--tracking-uri`` or
    ``MLFLOW_TRACKING_URI``).
    """
    path = Path(path)
    if path.exists() and path.is_dir():
        raise InvalidInputError(f"{str(path)!r} is a directory; give the report's file name, e.g. report.html")
    if path.suffix.lower() not in (".html", ".htm"):
        raise InvalidInputError(
            f"the validation report is written as HTML only, so {str(path)!r} cannot be written; give a name "
            "ending in .html (e.g. --out report.html) and, for a PDF, print that page to PDF from a browser")
    from .._atomic import write_file

    return write_file(path, render_report(result, title=title))


def _flat_metrics(result: ValidationResult) -> dict[str, float]:
    out = {}
    for key, value in result.metrics.to_dict().items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    for key in ("sensitivity", "specificity", "ppv", "npv"):
        out[f"threshold_{key}"] = float(getattr(result.threshold, key))
    out["n_excluded"] = float(len(result.exclusions))
    if result.optimism is not None:
        for r in result.optimism.table.itertuples():
            out[f"optimism_{r.metric}"] = float(r.optimism)
            out[f"corrected_{r.metric}"] = float(r.corrected)
    for r in result.comparison.itertuples():
        out[f"auc_{r.score}"] = float(r.auc)
    return {k: v for k, v in out.items() if math.isfinite(v)}


def log_to_mlflow(result: ValidationResult, report_path, *, tracking_uri: str,
                  experiment: str = "ca125-validation", run_name: str | None = None,
                  tables: dict[str, pd.DataFrame] | None = None) -> str:
    """Log a validation study to MLflow: metrics, parameters, the report and the tables.

    Parameters
    ----------
    result : ValidationResult
    report_path : str or Path
        The HTML report, logged as an artifact under ``validation/``.
    tracking_uri : str
        MLflow tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``, ...), resolved as
        for training (:func:`ca125kinetics.tracking.resolve_tracking_uri`: SQLite paths made
        absolute, the deprecated file store refused).
    experiment : str
        Experiment name, created if needed (a new experiment on a SQLite store keeps its
        artifacts in ``mlartifacts/`` next to the database, as for training).
    run_name : str, optional
        Default ``"validate <model name> <version>"``.
    tables : dict of DataFrame, optional
        The tables to log, by name (``ca125 validate`` gives them as it writes them with
        ``--tables``: with the ``trained_on_synthetic``, ``rules`` and ``package_version``
        columns). Default :meth:`~.studies.ValidationResult.tables` with the model's
        ``trained_on_synthetic`` on every row.

    Returns
    -------
    str
        The MLflow run id.

    Notes
    -----
    Metrics: every numeric field of :class:`ValidationMetrics`, sensitivity/specificity/
    PPV/NPV at the threshold (``threshold_*``), ``n_excluded``, comparator AUCs
    (``auc_<score>``) and, with a bootstrap, ``optimism_*`` and ``corrected_*`` (non-finite
    values are not logged). Params: model name, version, family, threshold, the rule
    settings (``gcig.*``, ``kinetics.*``) and the input descriptions. Artifacts: the report
    and every table of the report as CSV under ``validation/tables/``
    (:meth:`~.studies.ValidationResult.tables`).
    """
    import mlflow

    from ..tracking import artifact_location, resolve_tracking_uri

    m = result.model
    tracking_uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=artifact_location(tracking_uri))
    mlflow.set_experiment(experiment)
    params = {"model_name": m["name"], "model_version": m["version"], "model_family": m["family"],
              "threshold": m["threshold"], "trained_on_synthetic": m["trained_on_synthetic"],
              "markers": result.source.get("markers", ""), "clinical": result.source.get("clinical", "")}
    for prefix, key in (("gcig", "gcig_settings"), ("kinetics", "kinetics_settings")):
        for k, v in (m.get(key) or {}).items():
            params[f"{prefix}.{k}"] = v
    if result.optimism is not None:
        seed = result.optimism.seed
        params.update(bootstrap_resamples=result.optimism.n_boot,
                      bootstrap_seed="resamples given by the caller" if seed is None else seed)
    with mlflow.start_run(run_name=run_name or f"validate {m['name']} {m['version']}".strip()) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(_flat_metrics(result))
        mlflow.set_tag("ca125kinetics.kind", "validation")
        mlflow.log_artifact(str(report_path), artifact_path="validation")
        with tempfile.TemporaryDirectory() as tmp:
            if tables is None:
                synthetic = bool(m["trained_on_synthetic"])
                tables = {name: frame.assign(trained_on_synthetic=synthetic) for name, frame in result.tables().items()}
            for name, frame in tables.items():
                frame.to_csv(Path(tmp) / f"{name}.csv", index=False)
            mlflow.log_artifacts(tmp, artifact_path="validation/tables")
        return run.info.run_id


# =========================================================================== command line


def _workers_text(opt) -> str:
    """The bootstrap's worker processes as run: ``2 worker(s)``; with a negative ``n_jobs`` also
    how joblib counted them (``1 worker(s) (n_jobs -5: counted from the cores)``)."""
    workers = opt.n_jobs if opt.n_workers is None else opt.n_workers
    return f"{workers} worker(s)" + (f" (n_jobs {opt.n_jobs}: counted from the cores)" if opt.n_jobs < 0 else "")

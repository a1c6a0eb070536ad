"""``ca125 design``: trial design from the command line (``docs/design.md``). Each subcommand
prints what a function of :mod:`ca125kinetics.design` returns (events, patients, the
detectable hazard ratio or supported margin, a selection trial's power, a non-inferiority
analysis), as text or JSON."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd

from ..design import (EVENT_PROBABILITY_CONVENTIONS, _check_ni_arguments, _check_simulated_trials, _check_threshold,
                      _ratio_text, _selection_patients, _time_point_uses, detectable_hr, events, noninferiority_analysis,
                      patients_support, plot_power_curve, power_curve,
                      sample_size, selection_from_predictions, selection_trial_sample_size, simulate_selection_trial,
                      supported_margin)
from ..errors import InvalidInputError


def _add_test_options(p, *, power: bool = True) -> None:
    p.add_argument("--alpha", type=float, default=0.025, help="total type I error of the test (default 0.025)")
    p.add_argument("--sided", type=int, choices=[1, 2], default=1, help="sides of the test (default 1)")
    if power:
        p.add_argument("--power", type=float, default=0.9, help="target power (default 0.9)")
    p.add_argument("--allocation", type=float, default=0.5,
                   help="share randomised to the experimental arm (default 0.5 = 1:1; 2:1 is 0.6667)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")


def _add_margin_options(p) -> None:
    p.add_argument("--margin-hr", type=float, help="non-inferiority margin on the hazard ratio (> 1)")
    p.add_argument("--margin-diff", type=float,
                   help="non-inferiority margin on survival at --at-time (e.g. 0.05), converted to an HR margin "
                        "under proportional hazards; needs --control-survival and --at-time")
    p.add_argument("--at-time", type=float, help="time point of --margin-diff / --control-survival (months)")
    p.add_argument("--control-survival", type=float, help="control arm's survival at --at-time (e.g. 0.80)")


def _add_trial_options(p, *, control_survival: bool = False) -> None:
    p.add_argument("--accrual", type=float, required=True, help="uniform accrual period (months)")
    p.add_argument("--follow-up", type=float, required=True,
                   help="follow-up after the last patient enters, to the analysis (months)")
    p.add_argument("--control-median", type=float,
                   help="control arm's median (months, exponential)" +
                        ("; or give --control-survival at --at-time" if control_survival else ""))
    p.add_argument("--convention", choices=list(EVENT_PROBABILITY_CONVENTIONS), default="control",
                   help="probability of an event that turns events into patients: the 'control' arm's "
                        "(default) or the 'average' of both arms (Schoenfeld/rpact; more patients when HR < 1)")


def add_design_arguments(parser) -> None:
    """Arguments of ``ca125 design`` and its subcommands."""
    sub = parser.add_subparsers(dest="design_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("events", help="events for superiority or non-inferiority (Schoenfeld)",
                       description="Events a two-arm log-rank/Cox comparison needs (Schoenfeld). Hazard ratios "
                       "are experimental vs control.")
    p.add_argument("--hr", type=float, required=True,
                   help="anticipated hazard ratio, experimental vs control (e.g. 0.6; 1 for non-inferiority)")
    _add_test_options(p)
    _add_margin_options(p)

    p = sub.add_parser("n", help="patients: events / probability of an event (uniform accrual, exponential)",
                       description="Patients needed: Schoenfeld events divided by the probability of an event by "
                       "the analysis (uniform accrual, fixed follow-up after the last entry, exponential).")
    p.add_argument("--hr", type=float, required=True, help="anticipated hazard ratio, experimental vs control")
    _add_test_options(p)
    _add_margin_options(p)
    _add_trial_options(p, control_survival=True)

    p = sub.add_parser("detectable-hr", help="hazard ratio detectable (or NI margin supported) by events or patients",
                       description="Largest hazard ratio (experimental vs control) detectable with --events events "
                       "or --n patients; with --true-hr, the smallest non-inferiority margin they support.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--events", type=float, help="number of events")
    what.add_argument("--n", type=int, help="patients randomised (needs --accrual, --follow-up and the control arm)")
    p.add_argument("--true-hr", type=float,
                   help="non-inferiority: hazard ratio assumed true (often 1); prints the margin supported")
    _add_test_options(p)
    p.add_argument("--accrual", type=float, help="with --n: uniform accrual period (months)")
    p.add_argument("--follow-up", type=float, help="with --n: follow-up after the last entry (months)")
    p.add_argument("--control-median", type=float, help="with --n: control median (months, exponential)")
    p.add_argument("--control-survival", type=float,
                   help="control survival at --at-time (e.g. 0.80): with --n, the control arm; with --true-hr, "
                        "also states the margin as a loss of survival there")
    p.add_argument("--at-time", type=float, help="time point of --control-survival (months)")
    p.add_argument("--convention", choices=list(EVENT_PROBABILITY_CONVENTIONS), default=None,
                   help="with --n: probability of an event that turns events into patients: the 'control' arm's "
                        "(default) or the 'average' of both arms")

    p = sub.add_parser("selection-trial", help="power of a trial whose surgery arm mixes complete and incomplete "
                       "resections (simulated log-rank)",
                       description="Power of a selection trial (RESCUE-like): the surgery arm holds a share PPV of "
                       "complete resections (hazard ratio --hr-complete vs control) and 1 - PPV incomplete ones "
                       "(--hr-incomplete). Power of --n patients by simulated log-rank tests, or the patients for "
                       "--power-target.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ppv", type=float, help="complete-resection rate among the randomised (the model's PPV)")
    src.add_argument("--predictions", help="table (.csv/.parquet) of a model's predictions with the probability "
                     "(--p-column) and the observed complete_resection of every patient; needs --threshold")
    src.add_argument("--cohort", help="directory written by 'ca125 synth': its truth.csv gives the true probability "
                     "and the counterfactual outcome (an oracle model); needs --threshold")
    p.add_argument("--threshold", type=float, help="selection threshold: patients with p >= threshold are randomised")
    p.add_argument("--p-column", default=None,
                   help="probability column of --predictions (default 'probability', as 'ca125 score' and "
                        "'ca125 validate --predictions' write it)")
    p.add_argument("--outcome-column", default=None,
                   help="outcome column of --predictions (default 'complete_resection')")
    p.add_argument("--hr-complete", type=float, required=True, help="hazard ratio after complete resection vs control")
    p.add_argument("--hr-incomplete", type=float, required=True,
                   help="hazard ratio after incomplete resection vs control (DESKTOP III: > 1, harm)")
    p.add_argument("--control-median", type=float, required=True, help="control median PFS (months, exponential)")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--n", type=int, help="patients randomised: prints the simulated power")
    size.add_argument("--power-target", type=float, help="target power: prints the patients needed (and checks "
                      "them by simulation)")
    p.add_argument("--accrual", type=float, default=36.0, help="uniform accrual period (months, default 36)")
    p.add_argument("--follow-up", type=float, default=24.0, help="follow-up after the last entry (months, default 24)")
    p.add_argument("--sims", type=int, default=2000, help="simulated trials (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", help="also draw power against the PPV (and the threshold) to this image file "
                   "(.png, .pdf or .svg)")
    _add_test_options(p, power=False)
    _add_table_format_options(p)

    p = sub.add_parser("ni-analysis", help="non-inferiority analysis: Kaplan-Meier at a time point and Cox HR by arm",
                       description="Kaplan-Meier survival at --at by arm with the difference and its Greenwood "
                       "interval, and the Cox hazard ratio, each compared with its margin (experimental vs control).")
    p.add_argument("--data", required=True, help="one row per patient (.csv or .parquet)")
    p.add_argument("--time", required=True, help="column of follow-up time (months)")
    p.add_argument("--event", required=True, help="column of the event indicator (1 = event, 0 = censored)")
    p.add_argument("--arm", required=True, help="column of the arm label")
    p.add_argument("--experimental", required=True, help="label of the experimental arm")
    p.add_argument("--control", required=True, help="label of the control arm")
    p.add_argument("--margin-hr", type=float, help="margin on the hazard ratio (> 1)")
    p.add_argument("--margin-diff", type=float, help="margin on survival at --at (e.g. 0.05)")
    p.add_argument("--at", type=float, default=36.0, help="time point (default 36 months)")
    p.add_argument("--conf-level", type=float, default=0.95, help="two-sided level (default 0.95)")
    p.add_argument("--format", choices=["text", "json", "html"], default=None,
                   help="default: text, or by the --out suffix (.txt, .json, .html)")
    p.add_argument("--out", help="write the output (text, JSON or an HTML page: .txt, .json, .html) to this file")
    p.add_argument("--randomised-only", action="store_true",
                   help="leave out patients whose arm is empty (not randomised; counted on stderr); "
                   "without it an empty arm is an error")
    _add_table_format_options(p)


#: Options every subcommand but ni-analysis reads: the test and the output format.
_TEST = ("alpha", "sided", "power", "allocation", "format")


def _flag(name: str) -> str:
    """The option of the argument ``name`` (argparse's dest): ``follow_up`` -> ``--follow-up``."""
    return "--" + name.replace("_", "-")


def _flags(names) -> str:
    return ", ".join(_flag(name) for name in names)


def _refuse_unused(args, what: str, options: tuple[str, ...], uses: tuple[str, ...], hint: str = "") -> None:
    """Refuse the options of ``options`` (those whose default is None, so that a given one is
    told apart) that the user gave but ``ca125 design {what}`` does not use in this form: they
    would be read and ignored. The :class:`InvalidInputError` names them and what it uses."""
    unused = [name for name in options if name not in uses and getattr(args, name) is not None]
    if unused:
        raise InvalidInputError(f"ca125 design {what} does not use {_flags(unused)}: it uses {_flags(uses)}"
                                + (f"; {hint}" if hint else ""))


def _print_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def _sided_text(alpha: float, sided: int) -> str:
    return f"{'one' if sided == 1 else 'two'}-sided alpha {alpha:g}"


def _cli_events(args) -> int:
    survival = _time_point_uses(args.margin_diff, args.control_survival, control_arm=False)
    _refuse_unused(args, "events", ("margin_hr", "margin_diff", "at_time", "control_survival"),
                   ("hr", *_TEST, "margin_hr", "margin_diff", *survival),
                   "--control-survival and --at-time state a margin on survival with --margin-diff (the events "
                   "do not depend on the control arm's survival)")
    r = events(args.hr, alpha=args.alpha, sided=args.sided, power=args.power, allocation=args.allocation,
               margin_hr=args.margin_hr, margin_diff=args.margin_diff, at_time=args.at_time,
               control_survival=args.control_survival)
    if args.format == "json":
        _print_json(r.to_dict())
        return 0
    print(f"{r.events:.2f} events ({r.events_required} required) for {r.hypothesis}: anticipated hazard ratio "
          f"{r.hr:g} (experimental vs control) against {r.hr_null:.4g}; {_sided_text(r.alpha, r.sided)}, power "
          f"{r.power:g}, share experimental {r.allocation:.4g}\n  margin: {r.margin}\n  {r.formula}")
    return 0


def _cli_n(args) -> int:
    _refuse_unused(args, "n", ("margin_hr", "margin_diff", "at_time", "control_survival", "control_median"),
                   ("hr", *_TEST, "margin_hr", "margin_diff", "accrual", "follow_up", "control_median",
                    *_time_point_uses(args.margin_diff, args.control_survival, control_arm=True), "convention"),
                   "--at-time is the time point of --control-survival")
    r = sample_size(args.hr, accrual=args.accrual, follow_up=args.follow_up, control_median=args.control_median,
                    control_survival=args.control_survival, at_time=args.at_time, alpha=args.alpha,
                    sided=args.sided, power=args.power, allocation=args.allocation, margin_hr=args.margin_hr,
                    margin_diff=args.margin_diff, convention=args.convention)
    if args.format == "json":
        _print_json(r.to_dict())
        return 0
    ev = r.events_result
    print(f"{r.n} patients ({r.n_experimental} experimental, {r.n_control} control) for {r.events:.2f} events "
          f"({ev['hypothesis']}, hazard ratio {ev['hr']:g} experimental vs control against {ev['hr_null']:.4g}; "
          f"{_sided_text(ev['alpha'], ev['sided'])}, power {ev['power']:g})\n"
          f"  P(event by the analysis) {r.p_event:.4f} ({r.event_probability_convention}; control {r.p_event_control:.4f}, "
          f"experimental {r.p_event_experimental:.4f})\n"
          f"  {r.survival_model}; uniform accrual {r.accrual:g}, follow-up {r.follow_up:g} after the last entry; "
          "no dropout\n  margin: " + ev["margin"])
    if r.note:
        print(f"  note: {r.note}")
    return 0


_DETECTABLE_OPTIONS = ("true_hr", "accrual", "follow_up", "control_median", "control_survival", "at_time",
                       "convention")


def _cli_detectable(args) -> int:
    kw = dict(alpha=args.alpha, sided=args.sided, power=args.power, allocation=args.allocation)
    if args.events is not None:
        survival = ("control_survival", "at_time") if args.true_hr is not None else ()
        _refuse_unused(args, "detectable-hr --events", _DETECTABLE_OPTIONS, ("events", "true_hr", *survival, *_TEST),
                       "the accrual, follow-up, control arm and --convention turn --n patients into events; with "
                       "--true-hr, --control-survival at --at-time states the margin as a loss of survival")
        r = detectable_hr(args.events, **kw) if args.true_hr is None else supported_margin(
            args.events, true_hr=args.true_hr, control_survival=args.control_survival, at_time=args.at_time, **kw)
    else:
        _refuse_unused(args, "detectable-hr --n", _DETECTABLE_OPTIONS,
                       ("n", "true_hr", "accrual", "follow_up", "control_median",
                        *_time_point_uses(None, args.control_survival, control_arm=True), "convention", *_TEST),
                       "--at-time is the time point of --control-survival")
        args.convention = args.convention or "control"
        for name in ("accrual", "follow_up"):
            if getattr(args, name) is None:
                raise InvalidInputError(f"--n needs --{name.replace('_', '-')} (and the control arm's survival)")
        r = patients_support(args.n, accrual=args.accrual, follow_up=args.follow_up,
                             control_median=args.control_median, control_survival=args.control_survival,
                             at_time=args.at_time, true_hr=args.true_hr, convention=args.convention, **kw)
    if args.format == "json":
        _print_json(r.to_dict())
        return 0
    base = f"{r.events:.1f} events" + (f" (expected from {int(r.n)} patients, P(event) {r.p_event:.4f}, "
                                        f"{r.convention} convention)" if math.isfinite(r.n) else "")
    if r.hypothesis == "superiority":
        print(f"detectable hazard ratio {_ratio_text(r.hr)} (experimental vs control) with {base}; "
              f"{_sided_text(r.alpha, r.sided)}, power {r.power:g}")
    else:
        text = (f"smallest non-inferiority margin {_ratio_text(r.hr)} on the hazard ratio (experimental vs control) "
                f"with {base}, true hazard ratio {r.true_hr:g}; {_sided_text(r.alpha, r.sided)}, power {r.power:g}")
        if math.isfinite(r.survival_difference):
            text += (f"\n  = a loss of {r.survival_difference:.4f} in survival at {r.at_time:g} from the control's "
                     f"{r.control_survival:g}")
        print(text)
    if r.note:
        print(f"  note: {r.note}")
    return 0


def _add_table_format_options(p) -> None:
    """How the table's numbers are written: ``--sep``, ``--decimal``, ``--thousands`` (as the
    readers take them; a number written otherwise is refused, never guessed)."""
    group = p.add_argument_group("how the table is written")
    group.add_argument("--sep", default=None, metavar="CHAR", help="CSV separator, e.g. ';' (default ',')")
    group.add_argument("--decimal", default=None, choices=[".", ","], help="decimal mark of numbers (default '.')")
    group.add_argument("--thousands", default=None, metavar="CHAR", help="thousands separator (default: none)")


def _table(args, source, what: str):
    """The table at ``source`` read with the command's ``--sep``."""
    from ..io import _load

    return _load(source, what, sep=args.sep)


def _numbers(frame, column: str, label: str, args) -> np.ndarray:
    """``column`` as numbers written as ``--decimal``/``--thousands`` say (NaN where empty); a
    cell that is not such a number is refused, naming it (it had become NaN, and the error
    that followed named the NaN, not the decimal comma)."""
    from ..io import _missing, _number_hint, _parse_numbers

    raw = frame[column].to_numpy(dtype=object)
    decimal = args.decimal or "."
    values = _parse_numbers(raw, decimal, args.thousands)
    blank = np.array([isinstance(v, str) and not v.strip() for v in raw], dtype=bool)
    bad = np.flatnonzero(np.isnan(values) & ~_missing(raw) & ~blank)
    if bad.size:
        cell = raw[bad[0]]
        raise InvalidInputError(f"{column} {cell!r} (data row {bad[0] + 1}) is not a number"
                                + _number_hint(cell, decimal, args.thousands), source=label, column=column)
    return values


def _in_table(call, label: str, rows, columns: dict):
    """``call()``; an :class:`InvalidInputError` it raises about the table's columns, given to it
    as arrays, is raised again naming the file, the row as the file counts it (``rows`` of
    :func:`ca125kinetics.io._load`; the error's row is a position in those arrays) and the
    table's column (``columns`` maps the function's argument names to the table's)."""
    try:
        return call()
    except InvalidInputError as exc:
        if exc.source is not None:
            raise
        row = None if exc.row is None else rows.iloc[exc.row]
        raise InvalidInputError(exc.message, source=label, row=row,
                                column=columns.get(exc.column, exc.column)) from None


_SELECTION_OPTIONS = ("threshold", "p_column", "outcome_column", "sep", "decimal", "thousands")


def _selection_input(args):
    from ..io import _load

    if args.ppv is not None:
        _refuse_unused(args, "selection-trial --ppv", _SELECTION_OPTIONS, ("ppv",),
                       "--threshold and how the table is written apply to --predictions (or --cohort)")
        return None
    if args.cohort is not None:
        _refuse_unused(args, "selection-trial --cohort", _SELECTION_OPTIONS, ("cohort", "threshold", "decimal",
                       "thousands"), "--p-column, --outcome-column and --sep name a --predictions table's columns "
                       "and separator ('ca125 synth' writes truth.csv with its own)")
    if args.threshold is None:
        raise InvalidInputError("--predictions and --cohort need --threshold (patients with p >= threshold are "
                                "randomised)")
    _check_threshold(args.threshold)         # before the table: its refusal is not about the file
    if args.cohort is not None:
        from pathlib import Path

        frame, label, rows = _load(Path(args.cohort) / "truth.csv", "synthetic truth")
        p_col, y_col = "p_complete_resection", "complete_resection_potential"
    else:
        frame, label, rows = _table(args, args.predictions, "predictions")
        p_col, y_col = args.p_column or "probability", args.outcome_column or "complete_resection"
    missing = [c for c in (p_col, y_col) if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"column(s) {missing} not found; the table has {list(frame.columns)} (name the "
                                "columns with --p-column and --outcome-column)", source=label)
    p = _numbers(frame, p_col, label, args)
    y = _numbers(frame, y_col, label, args)
    bad = np.flatnonzero(np.isnan(y))
    if bad.size:
        raise InvalidInputError(
            f"{y_col} is missing or not 0/1 for {bad.size} patient(s), first at data row {bad[0] + 1}; the PPV "
            "needs every patient's outcome: keep only patients whose resection status is known"
            + (" (the rows whose 'included' is true, in a 'ca125 validate --predictions' table)"
               if "included" in frame.columns else ""), source=label, column=y_col)
    return p, y, label, rows, {"p": p_col, "complete_resection": y_col}


#: The files ``selection-trial --plot`` draws, by suffix.
PLOT_SUFFIXES = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def _cli_selection(args) -> int:
    if args.plot:   # refused before the simulations: matplotlib refused it after them, in a traceback
        from ._output import format_for_out

        format_for_out(args.plot, None, PLOT_SUFFIXES, option="--plot")
    data = _selection_input(args)
    selection = None
    ppv = args.ppv
    if data is not None:
        p, y, label, rows, columns = data
        selection = _in_table(lambda: selection_from_predictions(p, y, args.threshold, source=label), label, rows,
                              columns)
        ppv = selection.ppv
        if selection.n_selected == 0:
            raise InvalidInputError(f"no patient has p >= {args.threshold:g}; lower --threshold")
    common = dict(ppv=ppv, hr_complete=args.hr_complete, hr_incomplete=args.hr_incomplete,
                  control_median=args.control_median, accrual=args.accrual, follow_up=args.follow_up,
                  alpha=args.alpha, sided=args.sided, allocation=args.allocation, sims=args.sims, seed=args.seed)
    def plot(n: int) -> None:
        curve_kw = {k: v for k, v in common.items() if k != "ppv"}
        curve_kw["sims"] = min(args.sims, 1000)
        if selection is not None:
            curve = power_curve(n, predictions=(p, y), **curve_kw)
        else:
            curve = power_curve(n, **curve_kw)
        fig = plot_power_curve(curve, n=n)
        import matplotlib.pyplot as plt

        from .._atomic import atomic_file
        from ._output import format_for_out

        try:
            with atomic_file(args.plot) as handle:
                fig.savefig(handle, dpi=120, format=format_for_out(args.plot, None, PLOT_SUFFIXES, option="--plot"))
        finally:
            plt.close(fig)
        print(f"wrote {args.plot}", file=sys.stderr)

    if args.plot:     # its simulations' size refused before the trial's are run, and the trial's before the curve's
        if args.n is not None:
            _check_simulated_trials(args.n, args.sims)
            plot(args.n)
        else:             # the patients --power-target needs, by the closed form the trial's simulation checks
            plot(_selection_patients(args.power_target, **{k: v for k, v in common.items() if k != "seed"})["n"])
    if args.n is not None:
        result = simulate_selection_trial(args.n, **common)
        payload = result.to_dict()
        n = args.n
    else:
        share = selection.share_randomised if selection is not None else None
        result = selection_trial_sample_size(args.power_target, share_randomised=share, **common)
        payload = result.to_dict()
        payload["power"] = result.simulated["power"]
        payload["power_mcse"] = result.simulated["power_mcse"]
        payload["power_ci_low"] = result.simulated["power_ci_low"]
        payload["power_ci_high"] = result.simulated["power_ci_high"]
        n = result.n
    if selection is not None:
        payload["selection"] = selection.to_dict()
        # the PPV is an estimate: the same patients' power at its lower 95 % bound
        low = simulate_selection_trial(n, **{**common, "ppv": selection.ppv_ci_low, "sims": min(args.sims, 1000)})
        payload["selection"].update({f"{key}_at_ppv_ci_low": value for key, value in low.to_dict().items()
                                     if key in ("power", "power_mcse", "power_ci_low", "power_ci_high")})
    if args.format == "json":
        _print_json(payload)
        return 0
    lines = []
    if selection is not None:
        lines.append(f"selection p >= {selection.threshold:g} on {selection.n_cohort} patients ({selection.source}): "
                     f"{selection.n_selected} randomised ({100 * selection.share_randomised:.1f} %), PPV "
                     f"{selection.ppv:.3f} (95 % CI {selection.ppv_ci_low:.3f}-{selection.ppv_ci_high:.3f}; "
                     f"{selection.complete_rate_cohort:.3f} without selection)")
    sim = payload if args.n is not None else result.simulated
    if args.n is None:
        screened = "" if not math.isfinite(result.n_screened) else f", {math.ceil(result.n_screened)} to screen"
        lines.append(f"{result.n} patients randomised{screened} for power {result.power_target:g}: "
                     f"{result.events:.1f} events ({math.ceil(result.events - 1e-9)} required; Schoenfeld) for the "
                     f"mixture hazard ratio {result.hr_mixture:.4f} "
                     "(surgery vs control), "
                     f"P(event by the analysis) {result.p_event:.4f}")
    lines.append(f"power of {sim['n']} patients: "
                 f"{_power_text(sim['power'], sim['power_ci_low'], sim['power_ci_high'], sim['power_mcse'])}, "
                 f"{sim['sims']} simulated trials, seed {sim['seed']}); Schoenfeld with the mixture HR "
                 f"{sim['power_schoenfeld']:.3f}")
    lines.append(f"  surgery arm: PPV {sim['ppv']:.3f} complete resections (hazard ratio {sim['hr_complete']:g} vs "
                 f"control), {1 - sim['ppv']:.3f} incomplete ({sim['hr_incomplete']:g} vs control); effective hazard "
                 f"ratio {sim['hr_mixture']:.4f} vs control (event-weighted; {sim['hr_initial']:.3f} at time 0)")
    lines.append(f"  control median {sim['control_median']:g} months (exponential), accrual {sim['accrual']:g}, "
                 f"follow-up {sim['follow_up']:g} after the last entry; mean {sim['events_mean']:.1f} events; "
                 f"log-rank, {_sided_text(sim['alpha'], sim['sided'])}")
    if args.n is None and result.note:
        lines.append(f"  note: {result.note}")
    if selection is not None:
        s = payload["selection"]
        lines.append(f"  at the PPV's lower 95 % bound {selection.ppv_ci_low:.3f} the same {n} patients have power "
                     + _power_text(s["power_at_ppv_ci_low"], s["power_ci_low_at_ppv_ci_low"],
                                   s["power_ci_high_at_ppv_ci_low"], s["power_mcse_at_ppv_ci_low"]) + ")")
        if selection.n_selected < SELECTION_FEW:
            lines.append(f"  note: the PPV rests on {selection.n_selected} selected patient(s), too few to size a "
                         "trial on: the sample size is as uncertain as the PPV (lower --threshold, or use a larger "
                         "cohort)")
    print("\n".join(lines))
    return 0


def _power_text(power: float, low: float, high: float, mcse) -> str:
    """A simulated power as text, its parenthesis left open: ``0.506 (95 % CI 0.484-0.528,
    Monte Carlo SE 0.011``; the SE left out at a power of 0 or 1 (None: no measure there)."""
    se = "" if mcse is None or not math.isfinite(mcse) else f", Monte Carlo SE {mcse:.3f}"
    return f"{power:.3f} (95 % CI {low:.3f}-{high:.3f}{se}"


#: Fewer selected patients than this, and ``selection-trial --predictions`` says the PPV they
#: give is too uncertain to size a trial on (its 95 % interval is then wider than about 0.3).
SELECTION_FEW = 30


def _cli_ni(args) -> int:
    from ..io import _load
    from ._output import format_for_out

    fmt = format_for_out(args.out, args.format, {".txt": "text", ".json": "json", ".html": "html", ".htm": "html"})
    # the options first: their refusal is not about the table (it was given the file's name)
    _check_ni_arguments(args.at, args.margin_hr, args.margin_diff, args.conf_level)
    frame, label, rows = _table(args, args.data, "trial data")
    for column in (args.time, args.event):
        if column in frame.columns:
            frame[column] = _numbers(frame, column, label, args)
    if args.randomised_only and args.arm in frame.columns:
        empty = frame[args.arm].isna() | (frame[args.arm].astype(str).str.strip() == "")
        frame = frame[~empty.to_numpy()].reset_index(drop=True)
        rows = rows[~empty.to_numpy()].reset_index(drop=True)
        print(f"--randomised-only: {int(empty.sum())} patient(s) with an empty {args.arm!r} left out, "
              f"{len(frame)} analysed", file=sys.stderr)
    r = _in_table(lambda: noninferiority_analysis(
        frame, args.time, args.event, args.arm, experimental=args.experimental, control=args.control,
        margin_hr=args.margin_hr, margin_diff=args.margin_diff, at=args.at, conf_level=args.conf_level),
        label, rows, {})
    if fmt == "json":
        text = r.to_json()
    elif fmt == "html":
        from ..validation.report import _CSS

        text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Non-inferiority analysis</title>"
                f"<style>{_CSS}</style></head><body><h1>Non-inferiority analysis</h1>{r.to_html()}</body></html>")
    else:
        text = r.to_text()
    if args.out:
        from .._atomic import write_file

        write_file(args.out, text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


_HANDLERS = {"events": _cli_events, "n": _cli_n, "detectable-hr": _cli_detectable,
             "selection-trial": _cli_selection, "ni-analysis": _cli_ni}


def cli_design(args) -> int:
    """Handler of ``ca125 design``: dispatch to the subcommand. The design module's refusals
    name the arguments the user gave as options by those options (``--sims``, not ``sims``), as
    :func:`ca125kinetics.cli.main` has them named for every command."""
    return _HANDLERS[args.design_command](args)

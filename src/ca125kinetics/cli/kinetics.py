"""``ca125 kinetics``: KELIM-like elimination rates of every patient."""

from __future__ import annotations

from ..io import read_markers
from ..kinetics import fit_kinetics
from ..settings import KELIM_FAVOURABLE_SCORE, KineticsSettings, with_provenance
from . import add_format_arguments, format_options
from ._output import emit, text_table


def add_kinetics_arguments(parser) -> None:
    """Arguments of ``ca125 kinetics``."""
    parser.description = (
        "Fit the KELIM-like floor model C(t) = B + (C0 - B) exp(-k t) to every patient "
        "(population empirical-Bayes by default) and report k, half-life, score and descriptors."
    )
    parser.add_argument("markers", help="markers table (.csv or .parquet) or a FHIR R4 bundle (.json)")
    parser.add_argument("--method", choices=["population", "per-patient", "loglinear"], default="population")
    parser.add_argument("--uln", type=float, default=None,
                        help="assay upper limit of normal, U/mL (default: the model's with --model, else 35)")
    parser.add_argument("--k-ref", type=float, default=None,
                        help="k_ref of the standardized score k / k_ref (default: the model's with --model, "
                        "else the package default 0.05/day)")
    parser.add_argument("--model", default=None,
                        help="take k_ref, the kinetics rules and the fitted population of this model (exported "
                        "directory or MLflow URI), so the scores equal those of 'ca125 score --model'")
    parser.add_argument("--out", help="write the table to this .csv/.json/.parquet file")
    parser.add_argument("--format", choices=["text", "csv", "json"], default=None)
    parser.add_argument("--max-rows", type=int, default=40)
    add_format_arguments(parser)


def _kinetics_settings_and_population(args):
    """(settings, population, method) of ``ca125 kinetics``: the model's with ``--model``
    (its k_ref, rules and fitted population, so the scores equal those of ``ca125 score``),
    else the package defaults; ``--uln`` and ``--k-ref`` override, and the source of k_ref
    is recorded either way."""
    population, method = None, args.method
    if args.model is not None:
        from ..predict import load_model
        from ..predict.engine import _kinetics_step

        bundle = load_model(args.model, scoring_only=True)
        step = _kinetics_step(bundle)
        settings = step.settings_ if step is not None else bundle.kinetics_settings
        settings = settings.replace(k_ref_source=f"model {getattr(bundle, 'name', '')} "
                                    f"{getattr(bundle, 'version', '')}: {settings.k_ref_source}")
        if step is not None and getattr(step, "method", None) == "population" and method == "population":
            population = getattr(step, "population_", None)
    else:
        settings = KineticsSettings()
    if args.uln is not None:
        settings = settings.replace(uln=args.uln)
    if args.k_ref is not None:
        settings = settings.replace(k_ref=args.k_ref, k_ref_source="given on the command line (--k-ref)")
    return settings, population, method


def cli_kinetics(args) -> int:
    """Handler of ``ca125 kinetics``; returns the exit code."""
    settings, population, method = _kinetics_settings_and_population(args)
    markers = read_markers(args.markers, uln=settings.uln, on_error="flag", **format_options(args))
    table = fit_kinetics(markers, method=method, population=population, settings=settings)
    # the standardized score depends on k_ref: each row says which one and where it came from
    table = table.assign(k_ref=settings.k_ref, k_ref_source=settings.k_ref_source)
    text = text_table(table, max_rows=args.max_rows) + "\n\n" + _kinetics_summary(table, settings)
    emit(with_provenance(table, settings, method=method), args.out, args.format, text=text)
    if args.out:
        print(_kinetics_summary(table, settings))
    return 0


def _kinetics_summary(table, settings) -> str:
    ok = table[table["status"] == "ok"]
    lines = [f"KELIM-like kinetics ({table['method'].iloc[0] if len(table) else '-'}), "
             f"{len(table)} patient(s), {len(ok)} scored; standardized score = k / k_ref with k_ref "
             f"{settings.k_ref:g}/day ({settings.k_ref_source})"]
    if len(ok):
        lines.append(f"  median k {ok['k'].median():.4f}/day, median half-life "
                     f"{ok['half_life_days'].median():.1f} days, favourable score "
                     f"(>= {KELIM_FAVOURABLE_SCORE:g}): {int((ok['kelim_score'] >= KELIM_FAVOURABLE_SCORE).sum())}")
    for status, n in table["status"].value_counts().items():
        if status != "ok":
            lines.append(f"  not scored, {status}: {n}")
    return "\n".join(lines)

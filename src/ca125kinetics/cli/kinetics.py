"""``ca125 kinetics``: KELIM-like elimination rates of every patient."""

from __future__ import annotations

from ..io import read_markers
from ..kinetics import fit_kinetics
from ..markers import get_marker
from ..settings import KELIM_FAVOURABLE_SCORE, KineticsSettings, ResponseSettings, with_provenance
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
    parser.add_argument("--marker", default="ca125", choices=["ca125", "cea"],
                        help="marker of the table, named by its value column (default ca125; cea for CEA)")
    parser.add_argument("--uln", type=float, default=None,
                        help="assay upper limit of normal in the marker's unit (default: the model's with --model, "
                        "else 35 U/mL for CA-125, 5 ng/mL for CEA)")
    parser.add_argument("--k-ref", type=float, default=None,
                        help="k_ref of the standardized score k / k_ref (default: the model's with --model, "
                        "else the package default 0.05/day)")
    parser.add_argument("--model", default=None,
                        help="take k_ref, the kinetics rules and the fitted population of this model (exported "
                        "directory or MLflow URI), so the scores equal those of 'ca125 score --model'")
    parser.add_argument("--response", action="store_true",
                        help="add the response features (post/pre ratio, normalisation, clearance R^2); "
                        "always added for markers other than CA-125")
    parser.add_argument("--clearance-r2", type=float, default=0.9,
                        help="R^2 threshold of exponential clearance (default 0.9, FOWARC)")
    parser.add_argument("--out", help="write the table to this .csv/.json/.parquet file")
    parser.add_argument("--format", choices=["text", "csv", "json"], default=None)
    parser.add_argument("--max-rows", type=int, default=40)
    add_format_arguments(parser)


def _kinetics_settings_and_population(args, spec=None):
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
    else:   # the package defaults, with the marker's ULN (CA-125: KineticsSettings() itself)
        settings = KineticsSettings() if spec is None or spec.name == "ca125" else KineticsSettings(uln=spec.default_uln)
    if args.uln is not None:
        settings = settings.replace(uln=args.uln)
    if args.k_ref is not None:
        settings = settings.replace(k_ref=args.k_ref, k_ref_source="given on the command line (--k-ref)")
    return settings, population, method


def cli_kinetics(args) -> int:
    """Handler of ``ca125 kinetics``; returns the exit code."""
    spec = get_marker(args.marker)
    settings, population, method = _kinetics_settings_and_population(args, spec)
    markers = read_markers(args.markers, uln=settings.uln, on_error="flag", marker=spec, **format_options(args))
    table = fit_kinetics(markers, method=method, population=population, settings=settings, marker=spec)
    # the standardized score depends on k_ref: each row says which one and where it came from
    table = table.assign(k_ref=settings.k_ref, k_ref_source=settings.k_ref_source)
    summary = _kinetics_summary(table, settings, spec)
    rules = [settings]
    if args.response or spec.name != "ca125":
        from ..response import response_features

        response = ResponseSettings(clearance_r2_threshold=args.clearance_r2)
        rules.append(response)
        features = response_features(markers, marker=spec, settings=settings, response=response)
        table = table.merge(features.drop(columns=["uln", "n_samples", "baseline_value", "baseline_day"]),
                            on="patient_id", how="left", validate="one_to_one")
        summary += "\n" + _response_summary(features, response)
    text = text_table(table, max_rows=args.max_rows) + "\n\n" + summary
    marker = {} if spec.name == "ca125" else {"marker": spec.name}
    emit(with_provenance(table, *rules, method=method, **marker), args.out, args.format, text=text)
    if args.out:
        print(summary)
    return 0


def _response_summary(features, response) -> str:
    ratio = features["post_pre_ratio"].dropna()
    norm = features["normalised"].dropna()
    clear = features["exponential_clearance"].dropna()
    return (f"  response: median post/pre ratio {ratio.median():.3g} ({len(ratio)} patient(s)); "
            f"normalised {int(norm.sum())} of {len(norm)} with a raised baseline; exponential "
            f"clearance (R^2 > {response.clearance_r2_threshold:g}) {int(clear.sum())} of {len(clear)}")


def _kinetics_summary(table, settings, spec=None) -> str:
    ok = table[table["status"] == "ok"]
    marker = "" if spec is None or spec.name == "ca125" else f"{spec.label} "
    lines = [f"KELIM-like {marker}kinetics ({table['method'].iloc[0] if len(table) else '-'}), "
             f"{len(table)} patient(s), {len(ok)} scored; standardized score = k / k_ref with k_ref "
             f"{settings.k_ref:g}/day ({settings.k_ref_source})"
             + (f"; ULN {settings.uln:g} {spec.unit}" if marker else "")]
    if len(ok):
        lines.append(f"  median k {ok['k'].median():.4f}/day, median half-life "
                     f"{ok['half_life_days'].median():.1f} days, favourable score "
                     f"(>= {KELIM_FAVOURABLE_SCORE:g}): {int((ok['kelim_score'] >= KELIM_FAVOURABLE_SCORE).sum())}")
    for status, n in table["status"].value_counts().items():
        if status != "ok":
            lines.append(f"  not scored, {status}: {n}")
    return "\n".join(lines)

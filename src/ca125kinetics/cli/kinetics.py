"""``ca125 kinetics``: KELIM-like elimination rates of every patient."""

from __future__ import annotations

from ..io import read_markers
from ..kinetics import fit_kinetics
from ..settings import KineticsSettings
from ._output import emit, text_table


def add_kinetics_arguments(parser) -> None:
    """Arguments of ``ca125 kinetics``."""
    parser.description = (
        "Fit the KELIM-like floor model C(t) = B + (C0 - B) exp(-k t) to every patient "
        "(population empirical-Bayes by default) and report k, half-life, score and descriptors."
    )
    parser.add_argument("markers", help="markers table (.csv or .parquet)")
    parser.add_argument("--method", choices=["population", "per-patient", "loglinear"], default="population")
    parser.add_argument("--uln", type=float, default=35.0, help="assay upper limit of normal, U/mL (default 35)")
    parser.add_argument("--k-ref", type=float, default=0.05, help="k_ref of the standardized score (default 0.05/day)")
    parser.add_argument("--out", help="write the table to this .csv/.json/.parquet file")
    parser.add_argument("--format", choices=["text", "csv", "json"], default=None)
    parser.add_argument("--max-rows", type=int, default=40)


def cli_kinetics(args) -> int:
    """Handler of ``ca125 kinetics``; returns the exit code."""
    settings = KineticsSettings(uln=args.uln, k_ref=args.k_ref)
    markers = read_markers(args.markers, uln=args.uln, on_error="flag")
    table = fit_kinetics(markers, method=args.method, settings=settings)
    emit(table, args.out, args.format,
          text=text_table(table, max_rows=args.max_rows) + "\n\n" + _kinetics_summary(table, settings))
    if args.out:
        print(_kinetics_summary(table, settings))
    return 0


def _kinetics_summary(table, settings) -> str:
    ok = table[table["status"] == "ok"]
    lines = [f"KELIM-like kinetics ({table['method'].iloc[0] if len(table) else '-'}), "
             f"{len(table)} patient(s), {len(ok)} scored; k_ref {settings.k_ref:g}/day "
             f"({settings.k_ref_source})"]
    if len(ok):
        lines.append(f"  median k {ok['k'].median():.4f}/day, median half-life "
                     f"{ok['half_life_days'].median():.1f} days, favourable score (>= 1): "
                     f"{int((ok['kelim_score'] >= 1).sum())}")
    for status, n in table["status"].value_counts().items():
        if status != "ok":
            lines.append(f"  not scored, {status}: {n}")
    return "\n".join(lines)

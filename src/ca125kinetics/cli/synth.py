"""``ca125 synth``: write a seeded synthetic cohort (synthetic data: not patients)."""

from __future__ import annotations

from ..synth import write_synthetic


def add_synth_arguments(parser) -> None:
    """Arguments of ``ca125 synth``."""
    parser.description = (
        "Write markers.csv, clinical.csv and truth.csv of a seeded synthetic cohort (synthetic "
        "data: not patients), and params.json (the generator's parameters; beside the markers, it "
        "tells ca125 train the cohort is synthetic)."
    )
    parser.add_argument("--n", type=int, default=3000, help="number of patients (default 3000)")
    parser.add_argument("--seed", type=int, default=20261121, help="random seed (default 20261121)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")


def cli_synth(args) -> int:
    """Handler of ``ca125 synth``; returns the exit code."""
    path = write_synthetic(args.n, args.seed, args.out, format=args.format)
    print(f"wrote a synthetic cohort of {args.n} patient(s) (seed {args.seed}) to {path}")
    return 0

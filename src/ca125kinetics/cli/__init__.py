"""The ``ca125`` command line.

Every subcommand imports what it needs lazily, so ``ca125 --help`` and scoring stay fast.
Errors of the package (bad input, missing model, integrity failure) become one clear line on
stderr and exit code 2; they never print a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import Ca125KineticsError

__all__ = ["main", "build_parser"]

EXIT_USAGE_ERROR = 2


# ----------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line, like package errors."""

    def error(self, message):  # noqa: D102 - argparse hook
        self.exit(EXIT_USAGE_ERROR, f"ca125: error: {message} (see '{self.prog} --help')\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``ca125`` parser; with ``argv``, only the chosen lazy subcommand loads its module."""
    parser = _Parser(
        prog="ca125",
        description="CA-125 kinetics prediction models for recurrent ovarian cancer. "
        "Research software, not a medical device.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"ca125kinetics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    wanted = _first_word(argv)
    for name, help_text, module, add_name, run_name in _LAZY_COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if argv is None or wanted == name:
            # the module (and what it imports) is loaded only for the command being run
            mod = importlib.import_module(module, "ca125kinetics")
            getattr(mod, add_name)(p)
            p.set_defaults(func=getattr(mod, run_name))
    return parser


#: Every subcommand: (name, help, module relative to the ``ca125kinetics`` package,
#: add-arguments function, handler). A module is imported only when its command runs, so
#: that ``ca125 --help`` and ``ca125 score`` stay fast. A new command is one line here.
_LAZY_COMMANDS = [
    ("gcig", "apply the GCIG CA-125 response/progression rules to every patient",
     ".cli.gcig", "add_gcig_arguments", "cli_gcig"),
    ("synth", "generate a seeded synthetic cohort", ".cli.synth", "add_synth_arguments", "cli_synth"),
    ("kinetics", "fit KELIM-like CA-125 elimination rates", ".cli.kinetics", "add_kinetics_arguments",
     "cli_kinetics"),
    ("train", "train and compare complete-resection classifiers, tracked in MLflow",
     ".cli.train", "add_train_arguments", "cli_train"),
    ("score", "score patients' marker series with a trained model (GCIG rule applied)",
     ".cli.score", "add_score_arguments", "cli_score"),
    ("serve", "serve the scoring web page and JSON API", ".cli.serve", "add_serve_arguments", "cli_serve"),
    ("validate", "validate a frozen model on a cohort and write an HTML report",
     ".cli.validate", "add_validate_arguments", "cli_validate"),
    ("demo", "run the main job end to end on the embedded synthetic defaults",
     ".cli.demo", "add_demo_arguments", "cli_demo"),
]


def _first_word(argv: list[str] | None) -> str | None:
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ca125`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE_ERROR
    try:
        return int(args.func(args) or 0)
    except Ca125KineticsError as exc:
        message = str(exc).splitlines()
        extra = f" (+{len(message) - 1} more line(s))" if len(message) > 1 and not os.environ.get("CA125_VERBOSE") else ""
        text = "\n".join(message) if os.environ.get("CA125_VERBOSE") else message[0] + extra
        print(f"ca125: error: {text}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"ca125: error: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except KeyboardInterrupt:
        print("ca125: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0

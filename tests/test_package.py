"""Tests of the package's public surface: fast import, flat API, no name clashes."""

from __future__ import annotations

import subprocess
import sys

import ca125kinetics


def test_every_public_name_resolves():
    for name in ca125kinetics.__all__:
        assert getattr(ca125kinetics, name) is not None, name


def test_public_functions_are_not_shadowed_by_their_submodules():
    import ca125kinetics.predict  # noqa: F401 - the import used to rebind the name
    import ca125kinetics.train  # noqa: F401

    assert callable(ca125kinetics.train) and ca125kinetics.train.__name__ == "train"
    assert callable(ca125kinetics.predict) and ca125kinetics.predict.__name__ == "predict"
    assert "ca125kinetics.train" in sys.modules and "ca125kinetics.predict" in sys.modules


def test_import_is_light():
    """import ca125kinetics must not import mlflow, matplotlib, sklearn, numba or a web framework."""
    code = ("import sys, ca125kinetics; heavy = [m for m in ('mlflow', 'matplotlib', 'sklearn', "
            "'fastapi', 'statsmodels', 'pandas', 'numba') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

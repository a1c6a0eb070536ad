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

    assert callable(ca125kinetics.train) and ca125kinetics.train.train.__name__ == "train"
    assert callable(ca125kinetics.predict) and ca125kinetics.predict.__name__ == "predict"
    assert "ca125kinetics.train" in sys.modules and "ca125kinetics.predict" in sys.modules


def test_train_is_the_module_and_calls_the_function(monkeypatch):
    """``import ca125kinetics.train as T`` gives the module with its documented names, while
    ``ca125kinetics.train(...)`` (and ``from ca125kinetics import train``) still trains."""
    import inspect

    import ca125kinetics.train as T
    from ca125kinetics import train

    assert T is train is ca125kinetics.train is sys.modules["ca125kinetics.train"]
    for name in T.__all__:
        assert getattr(ca125kinetics.train, name) is getattr(T, name)
    assert T.TrainingConfig is ca125kinetics.TrainingConfig and T.load_config().n_splits == 5
    assert list(inspect.signature(ca125kinetics.train).parameters)[:2] == ["markers", "clinical"]
    calls = []
    monkeypatch.setattr(T, "train", lambda *a, **k: calls.append((a, k)) or "trained")
    assert ca125kinetics.train("m.csv", "c.csv", progress=False) == "trained"
    assert calls == [(("m.csv", "c.csv"), {"progress": False})]


def test_train_is_the_module_in_a_fresh_interpreter():
    code = ("import ca125kinetics; f = ca125kinetics.train; import ca125kinetics.train as T; "
            "print(f is T, callable(T), T.TrainingConfig.__name__, ca125kinetics.predict.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "TrainingConfig", "predict"]


def test_import_is_light():
    """import ca125kinetics must not import mlflow, matplotlib, sklearn, numba or a web framework."""
    code = ("import sys, ca125kinetics; heavy = [m for m in ('mlflow', 'matplotlib', 'sklearn', "
            "'fastapi', 'statsmodels', 'pandas', 'numba') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

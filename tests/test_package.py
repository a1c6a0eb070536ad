"""Tests of the package's public surface: fast import, flat API, no name clashes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ca125kinetics
from ca125kinetics.integrity import MANIFEST_NAME, read_manifest


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


def _import_graph() -> dict[str, set[str]]:
    """Module -> package modules it imports, anywhere in its code (lazy imports inside
    functions count: they are dependencies too). Imports inside a module-level PEP 562
    ``__getattr__`` do not: they re-export a name for old pickles and the public API, and
    nothing in the module itself uses them."""
    import ast
    from pathlib import Path

    root = Path(ca125kinetics.__file__).parent

    def name_of(path):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name_of(p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
                   for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rsplit(".", 1)[0] if "." in target else ""
                if target and target != module:
                    graph[module].add(target)
    return graph


def test_the_package_has_no_import_cycles():
    """Modules depend on the steps before them only (read -> rules -> kinetics -> models ->
    tracking -> predict -> MLflow face, validation -> command line and web)."""
    graph = _import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(module, path):
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_import_graph_sees_lazy_imports():
    graph = _import_graph()
    assert "ca125kinetics.predict.loading" in graph["ca125kinetics.predict.engine"]
    assert "ca125kinetics.kinetics" in graph["ca125kinetics.predict.engine"]     # only inside a function
    assert "ca125kinetics.mlflow_model" not in graph["ca125kinetics.bundle"]     # PEP 562 re-export


# ----------------------------------------------------------------------------- the built wheel

ROOT = Path(__file__).resolve().parents[1]


def _build_backend_or_skip() -> None:
    """Skip (with the reason printed by ``-ra``) when the interpreter has no setuptools as
    recent as ``build-system.requires`` asks: the wheel is built offline, without isolation."""
    import re
    import tomllib
    from importlib import metadata

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    wanted = next(int(m.group(1)) for r in requires if (m := re.fullmatch(r"setuptools>=(\d+)", r)))
    try:
        have = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        pytest.skip(f"wheel build not tested: setuptools (>={wanted}, the build backend) is not installed")
    if int(have.split(".")[0]) < wanted:
        pytest.skip(f"wheel build not tested: setuptools {have} is installed, the build needs >={wanted} "
                    "(pip install 'ca125kinetics[test]' installs it)")


def test_the_wheel_carries_the_shipped_model_and_cohort_and_its_checksums_verify(tmp_path, monkeypatch):
    """A wheel installed in a fresh environment had no default model (``ca125 score``/``serve``
    failed) and no committed cohort (``ca125 demo`` wrote 3,000 patients into the environment's
    lib directory). They are package data: the wheel holds exactly the files of each manifest of
    the shipped model, with the digests the manifests state, and the cohort the demo reads."""
    import hashlib
    import shutil
    import zipfile

    from ca125kinetics.demo import DEFAULT_COHORT
    from ca125kinetics.predict.loading import default_model_dir

    _build_backend_or_skip()
    monkeypatch.delenv("CA125_MODEL_DIR", raising=False)
    project = tmp_path / "project"    # a copy: building in place would write build/ and egg-info
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(project)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("ca125kinetics-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    package = Path(ca125kinetics.__file__).resolve().parent
    model = default_model_dir()    # in a checkout a link to models/default, in the wheel its files
    prefix = f"ca125kinetics/{model.relative_to(package).as_posix()}/"
    in_wheel = {name[len(prefix):] for name in members if name.startswith(prefix)}
    manifests = sorted(p.relative_to(model) for p in model.rglob(MANIFEST_NAME))
    assert [m.as_posix() for m in manifests] == ["MANIFEST.sha256", "mlflow_model/MANIFEST.sha256",
                                                 "mlflow_model/artifacts/bundle/MANIFEST.sha256"]
    listed = {m.as_posix() for m in manifests}
    for manifest in manifests:
        here = manifest.parent.as_posix() + "/" if manifest.parent != Path(".") else ""
        for rel, digest in read_manifest(model / manifest.parent).items():
            listed.add(here + rel)
            assert prefix + here + rel in members, f"{here + rel} of the shipped model is not in the wheel"
            assert hashlib.sha256(members[prefix + here + rel]).hexdigest() == digest, here + rel
    assert in_wheel == listed    # exactly the shipped model: nothing missing, nothing added
    for name in ("markers.csv", "clinical.csv"):
        assert f"ca125kinetics/{(DEFAULT_COHORT / name).relative_to(package).as_posix()}" in members
    assert "ca125kinetics/data/trials/rescue.toml" in members

"""The fitted model after its kinetics step, as a few numpy operations (fast scoring).

Scoring one patient through the scikit-learn pipeline costs ~20 ms, almost all of it
DataFrame handling and input validation around arithmetic that takes microseconds.
:class:`CompiledHead` reads the *fitted* steps after ``kinetics`` (``features`` ->
``preprocess`` -> ``classifier``) and replays them on numpy arrays:

* ``features`` (:class:`ca125kinetics.models.ModelFeatures`): the same function,
  :func:`ca125kinetics.models.model_feature_columns`, on a mapping of columns;
* ``preprocess``: every fitted transformer of a known kind is replayed from its fitted
  attributes -- ``SimpleImputer`` (``statistics_``, ``indicator_.features_``),
  ``MissingIndicator`` (``features_``), ``OneHotEncoder`` (``categories_``, no drop, no
  infrequent categories), ``StandardScaler`` (``mean_``, ``scale_``), ``SplineTransformer``
  (knots, degree, extrapolation), ``"passthrough"``; any other fitted transformer is called
  with its own ``transform`` on the numpy block it was fitted on;
* ``classifier``: binary ``LogisticRegression``/``LogisticRegressionCV`` as
  ``expit(X w + b)`` (scikit-learn's ``_predict_proba_lr``), binary
  ``HistGradientBoostingClassifier`` by walking its trees' nodes (:class:`_Forest`), a
  :class:`~ca125kinetics.models.RecalibratedClassifier` as its fixed logistic map of that,
  anything else through its own ``predict_proba``.

The interval ensemble (``ModelBundle.interval``) of a bundle of format 2 holds classifiers
fitted on the main pipeline's design matrix, so ``B`` logistic members are one ``(n, d) x
(d, B)`` product, and ``B`` boosted members one walk through all their trees at once. Bundles of format 1 hold whole head pipelines; each is compiled on its
own (correct, slower).

Equality with ``pipeline.predict_proba`` is a test (``tests/test_bundle.py``), to 1e-12.
A pipeline whose shape this module does not know (:func:`compile_head` returns None) is
scored through scikit-learn as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._logistic import expit, logit

__all__ = ["CompiledHead", "compile_head", "percentile_interval"]


def percentile_interval(draws: np.ndarray, level: float, transform=None) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear
    interpolation) of each row of ``transform(draws)`` (patients x interval members).

    The numbers of ``numpy.quantile(transform(draws), q, axis=1)`` (method ``"linear"``,
    Hyndman & Fan type 7): with ``M`` members the quantile ``q`` lies at the virtual index
    ``h = (M - 1) q`` of the sorted row, between the order statistics ``x[floor(h)]`` and
    ``x[floor(h) + 1]``, and is their linear interpolation written as numpy writes it
    (``a + (b - a) g``, or ``b - (b - a)(1 - g)`` when ``g = h - floor(h) >= 0.5``); a row
    holding NaN gives NaN.

    Only those order statistics are read (each row sorted), and ``transform`` (a
    non-decreasing elementwise function, e.g. the members' logistic link and
    recalibration; None: the identity) is applied to them only: the k-th smallest of
    ``f(x)`` is ``f`` of the k-th smallest of ``x`` for any non-decreasing ``f``, so the
    numbers are those of transforming every draw first, at a few values a patient.
    """
    draws = np.asarray(draws, dtype=float)
    n, m = draws.shape
    if n == 0 or m == 0:
        nan = np.full(n, np.nan)
        return nan, nan.copy()
    virtual = (m - 1) * np.array([(1 - level) / 2, (1 + level) / 2])
    gamma = virtual - np.floor(virtual)
    previous = np.clip(np.floor(virtual), 0, m - 1).astype(np.intp)    # beyond the ends: the end
    following = np.where((virtual < 0) | (virtual >= m - 1), previous, previous + 1)
    wanted = np.unique(np.concatenate([previous, following, [m - 1]]))
    part = np.sort(draws, axis=1)     # numpy's vectorised sort: faster than partitioning at 4 places
    having_nan = np.isnan(part[:, m - 1])      # NaN sorts last
    order = np.ascontiguousarray(part[:, wanted])
    if transform is not None:
        order = np.asarray(transform(order), dtype=float)
    column = {k: j for j, k in enumerate(wanted.tolist())}
    out = []
    for q in range(2):
        a, b = order[:, column[int(previous[q])]], order[:, column[int(following[q])]]
        diff = b - a
        value = b - diff * (1 - gamma[q]) if gamma[q] >= 0.5 else a + diff * gamma[q]
        value[having_nan] = np.nan
        out.append(value)
    return out[0], out[1]


def _dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` summed in the same order for every row, whatever the number of rows (BLAS
    picks other kernels for one row and for many, which can change the last bit): a patient's
    probability does not depend on who else is scored with it.

    numpy's ``einsum`` (``optimize=False``): a vector ``w`` is summed by its reduction kernel;
    each entry of ``x @ W`` for a matrix ``W`` is the plain running sum
    ``((0 + x_0 W_0k) + x_1 W_1k) + ...`` (a test checks it bit for bit), taken here over
    blocks of rows in column-major order, where einsum runs along the rows (the same sums,
    a fifth less time than along the row-major columns).
    """
    if w.ndim == 1 or x.shape[0] <= _DOT_ROWS:
        return np.einsum("ij,j...->i...", x, w, optimize=False)
    out = np.empty((x.shape[0], w.shape[1]))
    rows, block = np.empty((_DOT_ROWS, x.shape[1]), order="F"), np.empty((_DOT_ROWS, w.shape[1]), order="F")
    for start in range(0, x.shape[0], _DOT_ROWS):
        m = min(_DOT_ROWS, x.shape[0] - start)
        rows[:m] = x[start:start + m]
        block[:m] = 0.0
        np.einsum("ij,jk->ik", rows[:m], w, out=block[:m], optimize=False)
        out[start:start + m] = block[:m]
    return out


_DOT_ROWS = 2048  # rows of x per block of :func:`_dot` (the block and its products stay in cache)


# ---------------------------------------------------------------------------- transformers


class _Step:
    """One fitted transformer replayed on a 2-D numpy block."""

    def __init__(self, fitted, first: bool, names: list[str]):
        from sklearn.impute import MissingIndicator, SimpleImputer
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, SplineTransformer, StandardScaler

        self.kind = "call"
        self.fitted = fitted
        self.names = names
        if (isinstance(fitted, str) and fitted == "passthrough") or (
                type(fitted) is FunctionTransformer and fitted.func is None):
            self.kind = "passthrough"     # a fitted ColumnTransformer holds "passthrough" as an identity
        elif type(fitted) is SimpleImputer and getattr(fitted, "statistics_", None) is not None \
                and _is_nan_marker(fitted.missing_values):
            self.kind = "impute"
            self.statistics = np.asarray(fitted.statistics_, dtype=float)
            ind = fitted.indicator_
            self.indicator = None if ind is None else np.asarray(ind.features_, dtype=np.intp)
        elif type(fitted) is MissingIndicator and _is_nan_marker(fitted.missing_values):
            self.kind = "indicator"
            self.indicator = np.asarray(fitted.features_, dtype=np.intp)
        elif type(fitted) is OneHotEncoder and getattr(fitted, "drop_idx_", None) is None \
                and not getattr(fitted, "_infrequent_enabled", False) and fitted.handle_unknown == "ignore":
            self.kind = "onehot"
            self.categories = [np.asarray(c, dtype=object) for c in fitted.categories_]
        elif type(fitted) is SplineTransformer and fitted.extrapolation in _SPLINE_MODES \
                and not fitted.sparse_output and getattr(fitted, "handle_missing", "error") == "error":
            self.kind = "spline"
            self.knots = [np.asarray(b.t, dtype=float) for b in fitted.bsplines_]
            self.degree = int(fitted.degree)
            self.extrapolation = str(fitted.extrapolation)
            self.include_bias = bool(fitted.include_bias)
            self.bsplines = None
        elif type(fitted) is StandardScaler:
            self.kind = "scale"
            self.mean = None if fitted.mean_ is None or not fitted.with_mean else np.asarray(fitted.mean_, float)
            self.scale = None if fitted.scale_ is None or not fitted.with_std else np.asarray(fitted.scale_, float)
        # a transformer fitted on a DataFrame checks feature names: give it one (slow path)
        self.needs_frame = first and self.kind == "call" and getattr(fitted, "feature_names_in_", None) is not None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        kind = self.kind
        if kind == "passthrough":
            return x
        if kind == "impute":
            missing = np.isnan(x)
            out = np.where(missing, self.statistics, x)
            if self.indicator is not None and self.indicator.size:
                out = np.hstack([out, missing[:, self.indicator].astype(float)])
            return out
        if kind == "indicator":
            return np.isnan(x[:, self.indicator]).astype(float)
        if kind == "onehot":
            blocks = [_one_hot(x[:, j], cats) for j, cats in enumerate(self.categories)]
            return np.hstack(blocks) if blocks else np.zeros((x.shape[0], 0))
        if kind == "spline":
            return self._spline(x)
        if kind == "scale":
            out = np.subtract(x, self.mean, dtype=float) if self.mean is not None else np.array(x, dtype=float)
            if self.scale is not None:
                out /= self.scale
            return out
        if self.needs_frame:
            import pandas as pd

            return np.asarray(self.fitted.transform(pd.DataFrame(x, columns=self.names)), dtype=float)
        return np.asarray(self.fitted.transform(x), dtype=float)


    def _spline(self, x: np.ndarray) -> np.ndarray:
        """B-spline basis of each column (scikit-learn's ``SplineTransformer``, dense output).

        Inside the base interval ``[t_k, t_{n}]`` the basis is scipy's ``BSpline`` with the
        fitted knots and identity coefficients (what the transformer evaluates); outside it
        ``"constant"`` repeats the boundary values of the first/last ``degree`` splines,
        ``"linear"`` continues them along their tangent at the boundary (first/last
        ``max(degree, 2)`` splines) and ``"continue"`` evaluates the polynomial pieces
        beyond. Without ``include_bias`` the last spline of each column is dropped.
        """
        from scipy.interpolate import BSpline

        k = self.degree
        if self.bsplines is None:   # the splines, and their values and slopes at the boundaries
            self.bsplines = []
            for t in self.knots:
                spl = BSpline.construct_fast(t, np.eye(t.size - k - 1), k,
                                             extrapolate=self.extrapolation == "continue")
                lo, hi = spl.t[k], spl.t[-k - 1]
                self.bsplines.append((spl, lo, hi, spl(lo), spl(hi), spl(lo, nu=1), spl(hi, nu=1)))
        blocks = []
        for i, (spl, lo, hi, f_lo, f_hi, d_lo, d_hi) in enumerate(self.bsplines):
            xi = x[:, i]
            n = spl.c.shape[1]
            if self.extrapolation == "continue":
                block = spl(xi)
            else:
                block = np.zeros((xi.size, n))
                inside = (lo <= xi) & (xi <= hi)
                block[inside] = spl(xi[inside])
                below, above = xi < lo, xi > hi
                if self.extrapolation == "constant":
                    block[np.ix_(below, np.arange(k))] = f_lo[:k]
                    block[np.ix_(above, np.arange(n - k, n))] = f_hi[n - k:]
                else:                                   # linear
                    for j in range(max(k, 2)):
                        block[below, j] = f_lo[j] + (xi[below] - lo) * d_lo[j]
                        m = n - 1 - j
                        block[above, m] = f_hi[m] + (xi[above] - hi) * d_hi[m]
            blocks.append(block if self.include_bias else block[:, :-1])
        return np.hstack(blocks) if blocks else np.zeros((x.shape[0], 0))


def _one_hot(column: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """``(n, len(categories))``: 1.0 where the value equals the category (``==``), else 0.0.

    A long column is compared once per distinct value (``pandas.factorize``; its missing
    values one by one, as None and NaN compare differently), a short one cell by cell (no
    pandas for a few patients)."""
    if len(column) <= 64:
        return (column[:, None] == categories[None, :]).astype(float)
    import pandas as pd

    codes, distinct = pd.factorize(column)
    out = (np.asarray(distinct, dtype=object)[:, None] == categories[None, :]).astype(float)[codes]
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        out[missing] = column[missing, None] == categories[None, :]
    return out


#: Extrapolation modes of ``SplineTransformer`` the compiled head replays.
_SPLINE_MODES = ("constant", "linear", "continue")


def _is_nan_marker(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


class _Part:
    """One ``(name, transformer, columns)`` of a fitted ColumnTransformer."""

    def __init__(self, fitted, columns: list[str], numeric: list[str], categorical: list[str]):
        from sklearn.pipeline import Pipeline

        if all(c in numeric for c in columns):
            self.source, self.index = "numeric", np.asarray([numeric.index(c) for c in columns], dtype=np.intp)
        elif all(c in categorical for c in columns):
            self.source, self.index = "categorical", np.asarray([categorical.index(c) for c in columns], dtype=np.intp)
        else:
            raise _NotCompilable("a column transformer mixes numeric and categorical columns")
        chain = [s for _, s in fitted.steps] if isinstance(fitted, Pipeline) else [fitted]
        self.steps = [_Step(s, i == 0, columns) for i, s in enumerate(chain) if not (isinstance(s, str) and s == "drop")]

    def __call__(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        x = numeric if self.source == "numeric" else categorical
        whole = self.index.size == x.shape[1] and bool((self.index == np.arange(x.shape[1])).all())
        if not (whole and self.steps and self.steps[0].kind != "call"):
            x = x[:, self.index]     # else every column in order, to a step that writes a new array
        for step in self.steps:
            x = step(x)
        return x


class _NotCompilable(Exception):
    pass


# ---------------------------------------------------------------------------- classifiers


def _linear(est) -> tuple[np.ndarray, float] | None:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    if type(est) in (LogisticRegression, LogisticRegressionCV) and len(getattr(est, "classes_", ())) == 2:
        return np.asarray(est.coef_, dtype=float).ravel(), float(np.ravel(est.intercept_)[0])
    return None


class _Forest:
    """The trees of one or more fitted binary ``HistGradientBoostingClassifier`` models, stacked.

    Every tree's nodes are concatenated (child indices made global); a prediction walks all
    trees of all models at once, one tree level per step (``x <= threshold`` goes left; a
    missing value goes where the split sent missing values in training), then sums each
    model's leaf values onto its baseline: scikit-learn's raw prediction, whose logistic is
    the probability (``HalfBinomialLoss``).
    """

    def __init__(self, models: list):
        feature, threshold, missing_left, left, right, leaf, value = [], [], [], [], [], [], []
        roots, owner, baselines = [], [], []
        offset = 0
        for m_index, model in enumerate(models):
            baselines.append(float(np.ravel(model._baseline_prediction)[0]))
            for (tree,) in model._predictors:
                nodes = tree.nodes
                if np.any(nodes["is_categorical"]):
                    raise _NotCompilable("categorical splits")
                roots.append(offset)
                owner.append(m_index)
                feature.append(nodes["feature_idx"].astype(np.intp))
                threshold.append(nodes["num_threshold"].astype(float))
                missing_left.append(nodes["missing_go_to_left"].astype(bool))
                left.append(nodes["left"].astype(np.intp) + offset)
                right.append(nodes["right"].astype(np.intp) + offset)
                leaf.append(nodes["is_leaf"].astype(bool))
                value.append(nodes["value"].astype(float))
                offset += len(nodes)
        self.feature, self.threshold = np.concatenate(feature), np.concatenate(threshold)
        self.missing_left, self.leaf = np.concatenate(missing_left), np.concatenate(leaf)
        self.left, self.right, self.value = np.concatenate(left), np.concatenate(right), np.concatenate(value)
        self.roots, self.owner = np.asarray(roots, dtype=np.intp), np.asarray(owner, dtype=np.intp)
        self.baselines = np.asarray(baselines)
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.owner) != 0])

    _FIELDS = ("feature", "threshold", "missing_left", "left", "right", "leaf", "value", "roots", "owner",
               "baselines")

    def to_dict(self) -> dict:
        return {name: (_floats(getattr(self, name)) if getattr(self, name).dtype.kind == "f"
                       else [int(v) for v in getattr(self, name)]) for name in self._FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Forest:
        forest = cls.__new__(cls)
        kinds = {"threshold": float, "value": float, "baselines": float, "missing_left": bool, "leaf": bool}
        for name in cls._FIELDS:
            setattr(forest, name, np.asarray(d[name], dtype=kinds.get(name, np.intp)))
        forest.starts = np.flatnonzero(np.r_[True, np.diff(forest.owner) != 0])
        return forest

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Raw predictions ``(n, n_models)``."""
        n = x.shape[0]
        node = np.broadcast_to(self.roots, (n, self.roots.size)).copy()
        rows = np.arange(n)[:, None]
        while True:
            active = ~self.leaf[node]
            if not active.any():
                break
            value = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(value), self.missing_left[node], value <= self.threshold[node])
            node = np.where(active, np.where(go_left, self.left[node], self.right[node]), node)
        sums = np.add.reduceat(self.value[node], self.starts, axis=1) if n else np.zeros((0, self.starts.size))
        return sums + self.baselines


def _forest_of(est) -> _Forest | None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if type(est) is HistGradientBoostingClassifier and len(est.classes_) == 2 and est.n_trees_per_iteration_ == 1 \
            and type(est._loss).__name__ == "HalfBinomialLoss":
        try:
            return _Forest([est])
        except (_NotCompilable, AttributeError, ValueError):
            return None
    return None


class _Classifier:
    """``predict_proba(X)[:, 1]`` of a fitted classifier, replayed where it is linear."""

    def __init__(self, est):
        from .models import RecalibratedClassifier

        self.est = est
        self.recal = None
        inner = est
        if type(est) is RecalibratedClassifier:
            self.recal = (float(est.intercept), float(est.slope))
            inner = est.estimator_
        self.inner = inner
        self.linear = _linear(inner)
        self.forest = None if self.linear is not None else _forest_of(inner)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Probability of the inner classifier (before any recalibration)."""
        if self.linear is not None:
            w, b = self.linear
            return expit(_dot(x, w) + b)
        if self.forest is not None:
            return expit(self.forest.raw(x)[:, 0])
        return np.asarray(self.inner.predict_proba(x), dtype=float)[:, 1]

    def increasing(self) -> bool:
        """True when :meth:`recalibrate` is non-decreasing (none, or a slope >= 0)."""
        return self.recal is None or self.recal[1] >= 0

    def recalibrate(self, p: np.ndarray) -> np.ndarray:
        if self.recal is None:
            return p
        a, b = self.recal
        return expit(a + b * logit(p))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.recalibrate(self.raw(x))


# ---------------------------------------------------------------------------- the head


class CompiledHead:
    """The steps of a fitted pipeline after ``kinetics``, with its interval ensemble.

    Use :func:`compile_head` (which returns None for a pipeline it cannot replay).
    """

    def __init__(self, head_steps: list, interval: Mapping[str, Any] | None):
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline

        from ._design import CATEGORICAL_FEATURES, NUMERIC_FEATURES
        from .models import ModelFeatures

        names = [n for n, _ in head_steps]
        if names != ["features", "preprocess", "classifier"] or type(head_steps[0][1]) is not ModelFeatures:
            raise _NotCompilable(f"unexpected steps {names}")
        numeric, categorical = list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES)
        pre = head_steps[1][1]
        chain = [s for _, s in pre.steps] if isinstance(pre, Pipeline) else [pre]
        if type(chain[0]) is not ColumnTransformer or getattr(chain[0], "sparse_output_", False):
            raise _NotCompilable("the preprocessing does not start with a dense ColumnTransformer")
        self.parts = []
        for _, fitted, columns in chain[0].transformers_:
            if isinstance(fitted, str) and fitted == "drop":
                continue
            self.parts.append(_Part(fitted, [str(c) for c in columns], numeric, categorical))
        self.after = [_Step(s, False, []) for s in chain[1:]]
        self.classifier = _Classifier(head_steps[2][1])
        self.level = float((interval or {}).get("level", 0.95))
        self.members, self.member_heads, self.member_matrix, self.member_forest = [], [], None, None
        members = list((interval or {}).get("members") or [])
        if (interval or {}).get("members_input") == "design":
            self.members = [_Classifier(m) for m in members]
            self.member_matrix = self._stacked_linear_members()
            if self.member_matrix is None and self._one_recalibration() \
                    and all(m.forest is not None for m in self.members):
                self.member_forest = _Forest([m.inner for m in self.members])
        else:  # format 1: whole head pipelines, each compiled on its own
            self.member_heads = [CompiledHead(list(m.steps), None) for m in members]

    def learned_levels(self, name: str) -> frozenset | None:
        """The levels of the categorical feature ``name`` (``_design.CATEGORICAL_FEATURES``)
        that the model's one-hot encoding learned, ``"missing"`` among them when the
        training patients had it unknown; None when no part of the model encodes it."""
        from ._design import CATEGORICAL_FEATURES

        if name not in CATEGORICAL_FEATURES:
            return None
        j = CATEGORICAL_FEATURES.index(name)
        for part in self.parts:
            at = np.flatnonzero(part.index == j) if part.source == "categorical" else ()
            if len(at):
                position = int(at[0])
                for step in part.steps:
                    if step.kind == "onehot":
                        return frozenset(step.categories[position].tolist())
                    if step.kind != "passthrough":
                        return None
        return None

    # -- pieces

    def _one_recalibration(self) -> bool:
        """The members exist and share one recalibration (so it applies after stacking)."""
        return bool(self.members) and len({m.recal for m in self.members}) == 1

    def _stacked_linear_members(self):
        """``(W, b)`` of linear members, one column each (None unless all are linear)."""
        if not self._one_recalibration() or any(m.linear is None for m in self.members):
            return None
        return (np.column_stack([m.linear[0] for m in self.members]), np.array([m.linear[1] for m in self.members]))

    def design(self, columns: Mapping[str, Any], n: int) -> np.ndarray:
        """The classifier's input matrix ``(n, d)`` from the head's input columns."""
        from ._design import CATEGORICAL_FEATURES, NUMERIC_FEATURES, model_feature_columns

        cols = model_feature_columns(columns, n)
        numeric = np.column_stack([cols[c] for c in NUMERIC_FEATURES]) if n else np.zeros((0, len(NUMERIC_FEATURES)))
        categorical = np.empty((n, len(CATEGORICAL_FEATURES)), dtype=object)
        for j, c in enumerate(CATEGORICAL_FEATURES):
            categorical[:, j] = cols[c]
        x = np.hstack([part(numeric, categorical) for part in self.parts])
        for step in self.after:
            x = step(x)
        return x

    def predict(self, columns: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(p, p_low, p_high)``, each of length ``n`` (NaN interval without members)."""
        x = self.design(columns, n)
        p = self.classifier(x)
        draws, link = None, None
        if self.member_matrix is not None or self.member_forest is not None:
            # the members' linear predictors; their probabilities (a non-decreasing map of
            # them when the recalibration slope is >= 0) only at the order statistics needed
            w, b = self.member_matrix or (None, None)
            if w is not None:
                draws = _dot(x, w)
                draws += b
            else:
                draws = self.member_forest.raw(x)
            link = lambda z: self.members[0].recalibrate(expit(z))   # noqa: E731
            if not self.members[0].increasing():
                draws, link = link(draws), None
        elif self.members:
            draws = np.column_stack([m(x) for m in self.members])
        elif self.member_heads:
            draws = np.column_stack([m.predict(columns, n)[0] for m in self.member_heads])
        if draws is None or n == 0:
            nan = np.full(n, np.nan)
            return p, nan, nan.copy()
        low, high = percentile_interval(draws, self.level, link)
        return p, low, high


def compile_head(pipeline, interval: Mapping[str, Any] | None = None) -> CompiledHead | None:
    """A :class:`CompiledHead` of a fitted ``kinetics -> features -> preprocess -> classifier``
    pipeline, or None when a step is of a shape this module cannot replay."""
    steps = list(getattr(pipeline, "steps", None) or [])
    if len(steps) != 4 or steps[0][0] != "kinetics":
        return None
    try:
        return CompiledHead(steps[1:], interval)
    except (_NotCompilable, AttributeError, TypeError):
        return None


# ---------------------------------------------------------------------------- scoring file

#: Version of the scoring file layout (``scorer.json``).
SCORER_FORMAT = 1
SCORER_FILE = "scorer.json"


def _floats(a) -> list:
    return [float(v) for v in np.ravel(a)]


def _step_to_dict(step: _Step) -> dict | None:
    if step.kind == "passthrough":
        return {"kind": "passthrough"}
    if step.kind == "impute":
        return {"kind": "impute", "statistics": _floats(step.statistics),
                "indicator": None if step.indicator is None else [int(i) for i in step.indicator]}
    if step.kind == "indicator":
        return {"kind": "indicator", "indicator": [int(i) for i in step.indicator]}
    if step.kind == "onehot":
        if not all(isinstance(v, str) for cats in step.categories for v in cats):
            return None
        return {"kind": "onehot", "categories": [list(cats) for cats in step.categories]}
    if step.kind == "scale":
        return {"kind": "scale", "mean": None if step.mean is None else _floats(step.mean),
                "scale": None if step.scale is None else _floats(step.scale)}
    if step.kind == "spline":
        return {"kind": "spline", "knots": [_floats(t) for t in step.knots], "degree": step.degree,
                "extrapolation": step.extrapolation, "include_bias": step.include_bias}
    return None                                        # a transformer replayed by its own code


def _step_from_dict(d: Mapping[str, Any]) -> _Step:
    step = _Step.__new__(_Step)
    step.kind, step.fitted, step.names, step.needs_frame = d["kind"], None, [], False
    if step.kind == "impute":
        step.statistics = np.asarray(d["statistics"], dtype=float)
        step.indicator = None if d["indicator"] is None else np.asarray(d["indicator"], dtype=np.intp)
    elif step.kind == "indicator":
        step.indicator = np.asarray(d["indicator"], dtype=np.intp)
    elif step.kind == "onehot":
        step.categories = [np.asarray(c, dtype=object) for c in d["categories"]]
    elif step.kind == "scale":
        step.mean = None if d["mean"] is None else np.asarray(d["mean"], dtype=float)
        step.scale = None if d["scale"] is None else np.asarray(d["scale"], dtype=float)
    elif step.kind == "spline":
        if d["extrapolation"] not in _SPLINE_MODES:
            raise ValueError(f"unknown spline extrapolation {d['extrapolation']!r}")
        step.knots = [np.asarray(t, dtype=float) for t in d["knots"]]
        step.degree, step.extrapolation = int(d["degree"]), str(d["extrapolation"])
        step.include_bias, step.bsplines = bool(d["include_bias"]), None
    elif step.kind != "passthrough":
        raise ValueError(f"unknown step kind {step.kind!r}")
    return step


def _classifier_to_dict(c: _Classifier, *, with_model: bool = True) -> dict | None:
    out = {"recalibration": None if c.recal is None else list(c.recal)}
    if not with_model:                     # a member whose trees are in the member forest
        return out
    if c.linear is not None:
        w, b = c.linear
        return {**out, "coef": _floats(w), "intercept": float(b)}
    if c.forest is not None:
        return {**out, "forest": c.forest.to_dict()}
    return None


def _classifier_from_dict(d: Mapping[str, Any]) -> _Classifier:
    c = _Classifier.__new__(_Classifier)
    c.est = c.inner = c.forest = c.linear = None
    if "coef" in d:
        c.linear = (np.asarray(d["coef"], dtype=float), float(d["intercept"]))
    elif "forest" in d:
        c.forest = _Forest.from_dict(d["forest"])
    c.recal = None if d["recalibration"] is None else (float(d["recalibration"][0]), float(d["recalibration"][1]))
    return c


def head_to_dict(head: CompiledHead) -> dict | None:
    """The compiled head as JSON-ready data, or None when a step is replayed by its own
    scikit-learn code (a transformer of another kind) or the interval holds format-1 members."""
    if head.member_heads:
        return None
    parts = []
    for part in head.parts:
        steps = [_step_to_dict(s) for s in part.steps]
        if any(s is None for s in steps):
            return None
        parts.append({"source": part.source, "index": [int(i) for i in part.index], "steps": steps})
    after = [_step_to_dict(s) for s in head.after]
    classifier = _classifier_to_dict(head.classifier)
    forest = head.member_forest
    members = [_classifier_to_dict(m, with_model=forest is None) for m in head.members]
    if any(s is None for s in after) or classifier is None or any(m is None for m in members):
        return None
    return {"parts": parts, "after": after, "classifier": classifier, "members": members, "level": head.level,
            "member_forest": None if forest is None else forest.to_dict()}


def head_from_dict(d: Mapping[str, Any]) -> CompiledHead:
    """A :class:`CompiledHead` from :func:`head_to_dict` data (no scikit-learn involved)."""
    head = CompiledHead.__new__(CompiledHead)
    head.parts = []
    for pd_ in d["parts"]:
        part = _Part.__new__(_Part)
        part.source, part.index = pd_["source"], np.asarray(pd_["index"], dtype=np.intp)
        part.steps = [_step_from_dict(s) for s in pd_["steps"]]
        head.parts.append(part)
    head.after = [_step_from_dict(s) for s in d["after"]]
    head.classifier = _classifier_from_dict(d["classifier"])
    head.level = float(d["level"])
    head.members = [_classifier_from_dict(m) for m in d["members"]]
    head.member_heads = []
    head.member_forest = None if d.get("member_forest") is None else _Forest.from_dict(d["member_forest"])
    head.member_matrix = head._stacked_linear_members()
    return head


class _KineticsStep:
    """What scoring needs of a fitted ``KineticsFeatures``: method, settings, population."""

    def __init__(self, method: str, settings, population):
        self.method, self.settings_, self.population_ = method, settings, population


class ScoringModel:
    """A trained model for scoring only, read from its scoring file (``scorer.json``).

    Holds what ``predict`` needs -- the kinetics population and settings, the compiled head
    with its interval members, the rule settings, threshold and metadata -- as plain numbers
    read from JSON: loading it unpickles nothing and imports no scikit-learn, which is what
    makes ``ca125 score`` start fast. Its scores are those of the ``ModelBundle`` it was
    written from (a test checks this). It has no ``pipeline``: for refitting, validation or
    anything else, load the full bundle.
    """

    def __init__(self, data: Mapping[str, Any]):
        from .kinetics import KineticsPopulation
        from .settings import GcigSettings, KineticsSettings

        if data.get("kind") != "ca125kinetics.ScoringModel" or data.get("format_version") != SCORER_FORMAT:
            raise ValueError(f"not a scoring file of format {SCORER_FORMAT}")
        self.name, self.version = str(data["name"]), str(data["version"])
        self.model_family = str(data["model_family"])
        self.threshold = float(data["threshold"])
        self.trained_on_synthetic = bool(data["trained_on_synthetic"])
        self.gcig_settings = GcigSettings.from_dict(data["gcig_settings"])
        self.kinetics_settings = KineticsSettings.from_dict(data["kinetics_settings"])
        self.feature_ranges = {k: (float(v[0]), float(v[1])) for k, v in data["feature_ranges"].items()}
        self.training_summary = dict(data.get("training_summary") or {})
        kin = data["kinetics"]
        population = None if kin["population"] is None else KineticsPopulation.from_dict(kin["population"])
        self.kinetics_step = _KineticsStep(kin["method"], KineticsSettings.from_dict(kin["settings"]), population)
        self.head = head_from_dict(data["head"])
        self.interval = {"level": self.head.level, "n_members": len(self.head.members)}
        self.landmarks = None
        if data.get("landmarks") is not None:   # absent in files written before landmarks existed
            from .landmarks import Landmark, LandmarkModel

            marks = data["landmarks"]
            self.landmarks = {"settings": marks["settings"], "models": [
                LandmarkModel(Landmark.from_dict(m["landmark"]), m["status"], m["reason"], dict(m["metrics"]),
                              None if m["model"] is None else ScoringModel(m["model"]))
                for m in marks["models"]]}

    def compiled(self) -> CompiledHead:
        return self.head

    def predict_head(self, columns, n: int):
        """``(p, p_low, p_high)``, as ``ModelBundle.predict_head``."""
        return self.head.predict(columns, n)

    def learned_unknown(self, name: str) -> bool:
        """As ``ModelBundle.learned_unknown``."""
        return learned_unknown(self.head, name)

    def learned_levels(self, name: str) -> frozenset | None:
        """As ``ModelBundle.learned_levels``."""
        return None if self.head is None else self.head.learned_levels(name)


def learned_unknown(head: CompiledHead | None, name: str) -> bool:
    """Whether the model of ``head`` learned the categorical feature ``name`` unknown (its
    training patients had it so: an unknown value is then a level it was fitted on, not an
    imputation). False when it did not, or when it cannot be told (no compiled head)."""
    levels = None if head is None else head.learned_levels(name)
    return levels is not None and "missing" in levels


def scorer_dict(bundle) -> dict | None:
    """The scoring file of a ``ModelBundle`` (JSON-ready), or None when its model cannot be
    written as plain numbers (then scoring unpickles the bundle)."""
    head = bundle.compiled()
    steps = getattr(bundle.pipeline, "steps", None) or []
    if head is None or not steps:
        return None
    data = head_to_dict(head)
    kinetics = steps[0][1]
    if data is None or not hasattr(kinetics, "settings_"):
        return None
    population = getattr(kinetics, "population_", None)
    landmarks = None
    if getattr(bundle, "landmarks", None):
        models = []
        for m in bundle.landmarks.get("models") or []:
            sub = None if m.model is None else scorer_dict(m.model)
            if m.model is not None and sub is None:
                return None    # every landmark model must be written as numbers, or none is
            models.append({**m.to_dict(), "model": sub})
        landmarks = {"settings": bundle.landmarks.get("settings"), "models": models}
    return {
        "kind": "ca125kinetics.ScoringModel", "format_version": SCORER_FORMAT,
        "name": bundle.name, "version": bundle.version, "model_family": bundle.model_family,
        "threshold": float(bundle.threshold), "trained_on_synthetic": bool(bundle.trained_on_synthetic),
        "gcig_settings": bundle.gcig_settings.to_dict(), "kinetics_settings": bundle.kinetics_settings.to_dict(),
        "feature_ranges": {k: [float(v[0]), float(v[1])] for k, v in bundle.feature_ranges.items()},
        "kinetics": {"method": kinetics.method, "settings": kinetics.settings_.to_dict(),
                     "population": None if population is None else population.to_dict()},
        "head": data,
        "landmarks": landmarks,
        "training_summary": bundle.training_summary,   # the final point's AUC in trajectories
    }

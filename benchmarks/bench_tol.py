"""How close to the optimum each library's *default* fit stops: the objective-gap table.

    python benchmarks/bench_tol.py            # scikit-learn's bundled sets + a sparse text-like set
    python benchmarks/bench_tol.py --mnist    # and MNIST (needs SOFTMAXREG_DATA or the cache)

For every data set: ``f*``, the objective of softmaxreg fitted to tol=1e-10 (Newton-CG, so
converged to float64 precision; the smallest value seen if a default fit went lower); then
``LogisticRegression()`` of scikit-learn and of softmaxreg at their defaults, and the
relative gap ``(f - f*) / f*`` of each, with ``f = C sum_i CE_i + 0.5 ||W||^2`` computed
here in float64 NumPy (independently of both libraries). One line per data set.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.preprocessing import StandardScaler

from softmaxreg import LogisticRegression


def objective(model, X, y, C) -> float:
    """``C * sum_i CE_i + 0.5 * ||W||^2`` of a fitted model, in float64."""
    coef, intercept = np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64)
    Z = np.asarray(X @ coef.T, dtype=np.float64) + intercept
    index = np.searchsorted(model.classes_, y)
    if coef.shape[0] == 1:
        losses = np.logaddexp(0.0, Z[:, 0]) - (index == 1) * Z[:, 0]
    else:
        losses = logsumexp(Z, axis=1) - Z[np.arange(len(Z)), index]
    return C * float(losses.sum()) + 0.5 * float((coef**2).sum())


def sparse_text_like(seed=0, n=2000, m=1000, density=0.01):
    """Word-count-like rows (sparse non-negative counts, tf scaled) and 4 topics."""
    rng = np.random.default_rng(seed)
    X = sp.random(
        n,
        m,
        density=density,
        random_state=seed,
        format="csr",
        data_rvs=lambda k: rng.poisson(2.0, k) + 1.0,
    )
    X = sp.csr_matrix(X.multiply(1.0 / np.maximum(X.sum(axis=1), 1.0)))
    W = rng.normal(size=(4, m)) * 30
    y = np.argmax(X @ W.T + rng.gumbel(size=(n, 4)), axis=1)
    return X, y


def data_sets(mnist: bool):
    iris = datasets.load_iris(return_X_y=True)
    yield "iris", *iris, 1.0
    scaled_iris = StandardScaler().fit_transform(iris[0])
    yield "iris scaled", scaled_iris, iris[1], 1.0
    yield "iris scaled C=150", scaled_iris, iris[1], 150.0
    yield "digits", *datasets.load_digits(return_X_y=True), 1.0
    cancer = datasets.load_breast_cancer(return_X_y=True)
    yield "breast-cancer", *cancer, 1.0
    yield "breast-cancer scaled", StandardScaler().fit_transform(cancer[0]), cancer[1], 1.0
    yield "wine", *datasets.load_wine(return_X_y=True), 1.0
    yield "sparse text-like", *sparse_text_like(), 1.0
    if mnist:
        from softmaxreg.datasets import load_mnist

        X, y = load_mnist("train", download=False)
        yield "MNIST", X.astype(np.float32) / np.float32(255), y, 1.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", action="store_true", help="add MNIST (60000 x 784)")
    args = parser.parse_args(argv)
    print(f"{'data set':24} {'f*':>14} {'sklearn gap':>12} {'softmaxreg gap':>15}")
    for name, X, y, C in data_sets(args.mnist):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            tight = objective(
                LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y), X, y, C
            )
            theirs = objective(SklearnLogisticRegression(C=C).fit(X, y), X, y, C)
            ours = objective(LogisticRegression(C=C).fit(X, y), X, y, C)
            best = min(tight, theirs, ours)
        print(
            f"{name:24} {best:14.6f} {(theirs - best) / best:12.2e} {(ours - best) / best:15.2e}",
            flush=True,
        )


if __name__ == "__main__":
    main()

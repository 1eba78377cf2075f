"""The column sweeps' threaded form (``_threaded_sweep``): bit for bit the one-thread
sweep, a fit the same on one thread and on two, and no use of numba's threads where they
are unsafe (a forked process; a threading layer that aborts on concurrent calls)."""

from __future__ import annotations

import faulthandler
import os
import warnings
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
import threadpoolctl
import torch

from softmaxreg import LogisticRegression, solvers
from softmaxreg.recipes import _intra_op_threads
from softmaxreg.solvers import _column_kernels as kernels
from softmaxreg.solvers import _fork, _threaded_sweep


def _columns_of_every_size(n=9_000, m=10, seed=0):
    """Columns from 1% to all rows non-zero: both sides of ``SPLIT_NONZEROS``."""
    rng = np.random.default_rng(seed)
    density = np.linspace(0.01, 1.0, m)
    X = rng.normal(size=(n, m)) * (rng.random((n, m)) < density)
    counts = (X != 0).sum(axis=0)
    assert counts.min() < kernels.SPLIT_NONZEROS <= counts.max()
    return X


@pytest.mark.parametrize(("softmax", "K"), [(True, 4), (False, 4), (False, 1)])
def test_the_threaded_sweep_moves_bit_for_bit_as_the_one_thread_sweep(softmax, K):
    """Softmax, sigmoids, and one sigmoid (binary: a scalar loop of its own)."""
    rng = np.random.default_rng(1)
    X = sp.csc_matrix(_columns_of_every_size())
    n, m = X.shape
    c = rng.uniform(0.1, 3.0, size=n)
    Z = rng.normal(size=(n, K))
    if softmax:
        A = np.exp(Z - Z.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
        labels = rng.integers(0, K, size=n)
        V, R = c[:, None] * A, A * c[:, None]
        R[np.arange(n), labels] -= c
    else:
        A = 1 / (1 + np.exp(-Z))
        labels = np.empty(0, dtype=np.int64)
        V = c[:, None] * (A * (1 - A))
        R = (A - (rng.random((n, K)) < 0.5)) * c[:, None]
    columns = (X.indptr.astype(np.int64), X.indices, X.data)
    features = np.arange(m, dtype=np.int64)
    blocks = np.empty((m, K, K))
    kernels.column_hessians(*columns, A, c, softmax, features, 0.3, blocks)
    gradient = np.asarray((X.T @ R).T)
    Hb = np.diag(c @ A) - (A * c[:, None]).T @ A if softmax else np.diag(c @ (A * (1 - A)))
    start = [np.zeros((K, m)), np.zeros(K), np.zeros((n, K)), np.zeros(n)]
    runs = []
    assert _threaded_sweep._threads_usable()  # numba's OpenMP layer here: threads run

    def threaded(*arguments):
        return _threaded_sweep.sweep(*arguments, threads=2)

    for sweep in (kernels.sweep, threaded):
        U, Ub, Q, S = (part.copy() for part in start)
        changes = [
            sweep(
                *columns,
                A,
                c,
                V,
                R,
                labels,
                Q,
                S,
                softmax,
                U,
                Ub,
                Hb,
                features,
                blocks,
                gradient,
                features,
                0.05,
                0.3,
                True,
            )
            for _ in range(3)
        ]
        runs.append((changes, U, Ub, Q, S))
    (changes, *state), (threaded_changes, *threaded_state) = runs
    assert changes == threaded_changes
    assert np.count_nonzero(state[0]) > 0  # the sweeps moved
    for one, other in zip(state, threaded_state, strict=True):
        np.testing.assert_array_equal(one, other)


def _fit(X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged
        return LogisticRegression(C=0.05, l1_ratio=0.5, tol=1e-8, max_iter=200).fit(X, y)


def _three_classes(X, seed=2):
    rng = np.random.default_rng(seed)
    scores = X[:, -3:] @ rng.normal(size=(3, 3)) * 2 + rng.normal(size=(len(X), 3))
    return scores.argmax(axis=1)


@pytest.mark.parametrize("classes", [3, 2])
def test_a_fit_is_the_same_on_one_thread_and_on_two(classes, monkeypatch):
    """The sweeps on one numba thread and on two give the same fit, bit for bit. NumPy's
    BLAS stays on one thread in both fits: OpenBLAS picks another kernel for the Gram
    blocks' products by its thread count on some CPUs (AVX2: the binary fit's
    coefficients then differ by 1e-16), which is not the sweeps' doing."""
    one_blas_thread = partial(threadpoolctl.threadpool_limits, 1)
    monkeypatch.setattr(solvers, "threadpool_limits", lambda limits, user_api: one_blas_thread(
        user_api=user_api))
    X = _columns_of_every_size(n=6_000, m=20)
    y = _three_classes(X) % classes
    with _intra_op_threads(1):
        one = _fit(X, y)
    with _intra_op_threads(2):
        two = _fit(X, y)
    assert np.count_nonzero(one.coef_ == 0) > 0
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.intercept_, two.intercept_)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_process_forked_after_threaded_sweeps_fits_on_one_thread():
    """GNU OpenMP aborts a forked child that starts numba's threads again ("Terminating:
    fork() called from a process already using GNU OpenMP"): the child sweeps on one
    thread, to the same fit."""
    X = _columns_of_every_size(n=6_000, m=20)
    y = _three_classes(X)
    with _intra_op_threads(2):
        parent = _fit(X, y).coef_
        assert _threaded_sweep._threads_usable()  # its sweeps used the threads
        assert _in_a_forked_child(lambda: np.array_equal(_fit(X, y).coef_, parent))


def test_a_threading_layer_that_aborts_on_concurrent_calls_is_not_used(monkeypatch):
    import numba

    monkeypatch.setattr(_threaded_sweep, "_layer_safe", None)
    monkeypatch.setattr(numba, "threading_layer", lambda: "workqueue")
    assert not _threaded_sweep._threads_usable()
    monkeypatch.setattr(_threaded_sweep, "_layer_safe", None)
    monkeypatch.setattr(numba, "threading_layer", lambda: "omp")
    assert _threaded_sweep._threads_usable()
    monkeypatch.setattr(_fork, "_forked", True)  # a forked process
    assert not _threaded_sweep._threads_usable()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_process_forked_after_threaded_torch_work_fits_l1():
    """A parent that ran torch's OpenMP threads (and never numba's), then a child's first
    numba parallel loop: it hung (found by a hostile-input tester); the child sweeps on
    one thread."""
    X = _columns_of_every_size(n=6_000, m=20)
    y = _three_classes(X)
    with _intra_op_threads(2):
        a = torch.randn(1000, 1000)
        float((a @ a).sum())
        assert _in_a_forked_child(lambda: np.count_nonzero(_fit(X, y).coef_) > 0)


def _in_a_forked_child(check) -> bool:
    """Whether ``check()`` is true in a forked child that exits normally (faulthandler ends
    a hung child after 60 s)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 1
        try:
            faulthandler.dump_traceback_later(60, exit=True)
            code = 0 if check() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def test_the_sweeps_take_torchs_thread_count_for_numbas():
    import numba

    numba.set_num_threads(1)
    X = _columns_of_every_size(n=6_000, m=20)
    with _intra_op_threads(2):
        _fit(X, _three_classes(X))
    assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)

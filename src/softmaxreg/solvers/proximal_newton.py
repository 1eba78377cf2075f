"""Proximal Newton for ``F = f + g``: a smooth objective plus an L1 penalty (glmnet's scheme).

Each outer iteration builds the local quadratic model of the smooth part at ``theta``,

    q(d) = grad f^T d + 0.5 d^T H d + g(theta + d),

with the exact Hessian ``H`` (softmax: ``C sum_i s_i x_i x_i^T (x) (diag(a_i) - a_i a_i^T)``,
with its cross-class terms; sigmoids: block diagonal), and minimises it by cyclic coordinate
descent over the columns of ``X`` (``_column_kernels``, compiled with numba): ``H`` is not
formed, one coordinate ``W_kj`` costs the non-zeros of column ``j``, and each coordinate's
one-dimensional problem has the closed-form soft-threshold solution, so zeros are exact.
The coordinate descent runs over a working set (celer / skglm): every non-zero coefficient
and the zero ones that violate their optimality condition most (``|grad_kj| > r``), at
least ``WORKING_SET_MIN`` and twice the non-zeros; within it glmnet's active set (sweeps
over the non-zero ones until they settle, then all again). The full subgradient is checked
after every step, so coefficients outside the working set join it when they violate.
Between sweeps over the active set, Newton-CG steps on the non-zero coordinates with their
signs held (``_support_newton``): on correlated columns (MNIST's pixels) coordinate descent
alone takes hundreds of sweeps per model. The active set's sweeps move to its block of
``H``, formed once they have cost as much as forming it (sigmoid outputs: on the active
columns; softmax: on their non-zero coefficients, a few per column on text), where Newton
steps on the signs join them (``_gram_cd``). A fit from ``W = 0`` solves its first model on
that model's exact Hessian ``(X~_F^T C X~_F) (x) H(a)`` (every row has the same activations
there, ``_zero_start``): coordinate descent without a pass over the data (softmax
models; sigmoid outputs form their blocks on the active columns at once, for less).
A backtracking line search on ``F`` (Armijo rule with ``Delta = grad f^T d + g(theta + d) -
g(theta)``), evaluated from the net inputs ``Z + t X d`` without touching ``X``, makes the
step safe far from the optimum; near it the full step is taken and convergence is fast.

``X`` is copied once into CSC in its own precision (float32 data stays float32: a third
less memory and traffic in each pass; dense input too: only its non-zeros are stored, so
MNIST's 81% zero pixels cost nothing); the solver runs on the CPU whatever the objective's
device, in float64 whatever the data's dtype.

Stopping rule, the same meaning of ``tol`` as for the smooth full-batch solvers: converged
when the smallest subgradient of ``F`` is small in every entry,

    max_j min_{v in dF_j(theta)} |v| / (C * sum_i s_i) <= tol

(see :meth:`softmaxreg.penalties.L1Penalty.optimality`).
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import expit

from softmaxreg.solvers._common import SolverResult, wants_stop, warn_not_converged
from softmaxreg.solvers._curved_rows import flat_rows
from softmaxreg.solvers._gram_cd import RentOrBuy, formable, solve_on_gram
from softmaxreg.solvers._support_newton import CG_MAX, ActiveColumns, support_newton_step

ARMIJO = 1e-4
MAX_HALVINGS = 50
# coordinate-descent sweeps per quadratic model, at most
MAX_SWEEPS = 1_000
# the smallest working set (columns of X), before it grows to twice the non-zero columns
WORKING_SET_MIN = 256
# a Newton-CG step on the non-zero coordinates after every this many sweeps over them
NEWTON_EVERY = 2
# ... (the interval doubling after each step that fails) and at most this many per model: a
# model whose inner tolerance is out of reach (below rounding) runs MAX_SWEEPS sweeps
MAX_NEWTON_STEPS = 10
# ... but on sparse columns (no dense copy: compiled loops over all rows) each of a step's
# up to 2 CG_MAX products costs about a sweep over the active columns: a step comes once
# the sweeps since the last have cost as much (rent or buy). Text-like L1 (20 classes,
# 100,000 rows): a step before the first formed Hessian took 2.7 s where the sweeps it saved
# took 1 s; the fit to glmnet's objective 21.0 -> 18.4 s
SPARSE_NEWTON_SWEEPS = 2 * CG_MAX
# Anderson extrapolation every this many active-set sweeps (celer and skglm use 5)
ANDERSON = 5
# problems of up to this many rows get the polishing step; its inner tolerance, relative to
# the optimality where the rule first held
POLISH_MAX_ROWS = 20_000
POLISH_INNER = 1e-5  # (1e-3 left weighted and repeated rows 3e-9 apart once Newton-CG steps
# joined the sweeps: scikit-learn's sample-weight check wants 1e-9)
# the inner tolerance never goes below this share of the outer one
INNER_FLOOR = 0.1
# inner tolerance = optimality * min(INNER_SHARE, forcing * sqrt(optimality / scale)): tighter
# as the outer iterate converges (superlinear rate). Where the working set's Hessian block
# can be formed (sigmoid outputs) a sweep is cheap beside an outer iteration's pass over the
# data, and the tight forcing of 1 pays. Elsewhere (softmax) each sweep costs about a pass,
# and a looser one does: MNIST L1 (C=0.1) to scikit-learn saga's objective 53 s -> 23 s,
# text-like L1 (20 classes) 23.7 s -> 9.2 s; binary L1 text with 10 took 2.95 s against 2.43
# s and its default fit stopped 27% above the optimum against 1.2%
INNER_SHARE = 0.3
FORCING_FORMED, FORCING_SWEPT = 1.0, 10.0


class ColumnProblem:
    """The smooth part ``f`` of a :class:`~softmaxreg.objective.LinearObjective` in the form
    the column kernels use: ``X`` as CSC (float32 or float64), ``c_i = C s_i``, targets,
    ``alpha``; and the generator of the subsampled Hessians' rows (``_support_newton``),
    seeded by ``random_state`` (0 when None)."""

    def __init__(self, objective, random_state=None):
        design = objective.design
        self.n, self.m = design.n_samples, design.n_features
        self.kernels = _kernels()
        index_dtype = np.int32 if self.n < 2**31 else np.int64
        if hasattr(design, "scipy"):
            source = design.scipy
            dtype = np.float32 if source.dtype == np.float32 else np.float64
            X = sp.csc_matrix(source, dtype=dtype)
            X.sum_duplicates()
            self.indptr = X.indptr.astype(np.int64)
            self.indices = np.asarray(X.indices, dtype=index_dtype)  # (int32: no copy)
            self.data = X.data
        else:
            dense = design.X.detach().cpu()
            if dense.dtype not in (torch.float32, torch.float64):  # half precisions
                dense = dense.double()
            dense = np.ascontiguousarray(dense.numpy())
            self.indptr, self.indices, self.data = self.kernels.dense_columns(dense, index_dtype)
        self.all_columns = np.arange(self.m, dtype=np.int64)
        self.K = objective.n_outputs
        self.softmax = objective.kind == "multinomial"
        weights = objective.sample_weight
        c = np.ones(self.n) if weights is None else weights.detach().cpu().double().numpy()
        self.c = objective.C * c
        targets = objective.targets.detach().cpu()
        self.targets = targets.numpy() if self.softmax else targets.double().numpy()
        # the class indices for the column sweeps (softmax; none for sigmoids)
        self.labels = self.targets if self.softmax else np.empty(0, dtype=np.int64)
        self.alpha = objective.l2_strength
        self.fit_intercept = objective.fit_intercept
        self.generator = np.random.default_rng(0 if random_state is None else random_state)

    def columns(self):
        return self.indptr, self.indices, self.data

    @property
    def threads(self) -> int:
        """The threads the compiled products may use: torch's setting, which the whole fit
        follows."""
        return torch.get_num_threads()

    @cached_property
    def magnitudes(self) -> tuple[float, float]:
        """The smallest non-zero and the largest magnitude of ``X``'s values."""
        return self.kernels.magnitudes(self.data)

    def column_nonzeros(self, columns: np.ndarray) -> np.ndarray:
        """The number of non-zeros of each of ``columns``."""
        return self.indptr[columns + 1] - self.indptr[columns]

    def split(self, theta: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(W (K, m), b (K,))`` as float64 arrays (``b = 0`` without an intercept)."""
        values = theta.detach().cpu().double().numpy()
        W = values[: self.K * self.m].reshape(self.K, self.m).copy()
        b = values[self.K * self.m :].copy() if self.fit_intercept else np.zeros(self.K)
        return W, b

    def join(self, W: np.ndarray, b: np.ndarray) -> torch.Tensor:
        parts = [W.reshape(-1), b] if self.fit_intercept else [W.reshape(-1)]
        return torch.from_numpy(np.concatenate(parts))

    def net_inputs(self, W, b) -> np.ndarray:
        """``Z = X W^T + b`` from the columns with a non-zero coefficient only (an L1
        start, zero or warm, has few: the text-like bench's zero start 0.63 s -> 0; the
        others would add zeros, the same bits)."""
        Z = np.tile(b, (self.n, 1))
        used = np.flatnonzero((W != 0).any(axis=0))
        if used.size:
            self.kernels.add_selected(
                *self.columns(), used, np.ascontiguousarray(W[:, used]), Z, threads=self.threads
            )
        return Z

    def loss(self, Z: np.ndarray, with_activations: bool = False):
        """``C sum_i s_i CE_i`` at net inputs ``Z``; with ``A`` and ``R = c (A - Y)`` if asked."""
        if self.softmax:
            top = Z.max(axis=1, keepdims=True)
            E = Z - top
            np.exp(E, out=E)
            total = E.sum(axis=1)
            rows = np.arange(self.n)
            cross_entropy = np.log(total) + top[:, 0] - Z[rows, self.targets]
        else:
            cross_entropy = (np.logaddexp(0.0, Z) - self.targets * Z).sum(axis=1)
        value = float(self.c @ cross_entropy)
        if not with_activations:
            return value
        if self.softmax:
            A = E
            A /= total[:, None]
            R = A * self.c[:, None]
            R[rows, self.targets] -= self.c
        else:
            A = expit(Z)
            R = (A - self.targets) * self.c[:, None]
        return value, A, R

    def smooth_penalty(self, W) -> float:
        return 0.5 * self.alpha * float(np.vdot(W, W))

    def gradient(self, R, W, out=None) -> tuple[np.ndarray, np.ndarray]:
        """``(grad_W = R^T X + alpha W, grad_b = sum_i R_i)``; ``grad_W`` written into
        ``out`` where given (a ``(K, m)`` float64 array no longer needed: on wide data a
        new one costs its page faults at every iteration)."""
        G = np.empty((self.K, self.m)) if out is None else out
        self.kernels.selected_products(
            *self.columns(), self.all_columns, R, G, threads=torch.get_num_threads()
        )
        if self.alpha:  # (pure L1: no pass over a zero product of W's size)
            G += self.alpha * W
        return G, R.sum(axis=0)


def _kernels():
    """The compiled column kernels (numba is imported only when an L1 fit runs)."""
    from softmaxreg.solvers import _column_kernels

    return _column_kernels


def working_set(W, G, lam: float, smallest: int) -> np.ndarray:
    """The columns ``j`` to solve over (all K coefficients of each): every column with a
    non-zero ``W_kj`` and, up to ``max(smallest, 2 * those)`` in all, the others whose
    largest violation ``max_k |G_kj| - lam`` is largest and positive; in column order."""
    nonzero = (W != 0).any(axis=0)
    largest = np.maximum(G.max(axis=0), -G.min(axis=0))  # max_k |G_kj| (no |G| of G's size)
    score = np.where(nonzero, np.inf, largest - lam)
    candidates = np.flatnonzero(score > 0)
    size = max(smallest, 2 * int(nonzero.sum()))
    if len(candidates) > size:
        keep = np.argpartition(-score[candidates], size - 1)[:size]
        candidates = np.sort(candidates[keep])
    return candidates.astype(np.int64)


def intercept_block(softmax: bool, A: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The intercepts' block of the Hessian at activations ``A`` (``K x K``) from ``V``
    (``c_i a_ik``, softmax, or ``c_i a_ik (1 - a_ik)``, sigmoids): softmax ``diag(sum_i
    c_i a_i) - sum_i c_i a_i a_i^T``, sigmoids ``diag(sum_i c_i a_ik (1 - a_ik))``."""
    if softmax:
        return np.diag(V.sum(axis=0)) - V.T @ A
    return np.diag(V.sum(axis=0))


class QuadraticModel:
    """The local quadratic model of ``F`` at ``(W, b)`` over the columns ``features``:
    ``q(U, Ub) = grad f^T D + 0.5 D^T H D + lam ||U||_1`` with ``D = (U - W, Ub - b)``,
    solved by :meth:`solve` (coordinate descent, Anderson-accelerated, with Newton steps
    on its non-zero coordinates)."""

    def __init__(self, problem, W, b, A, R, features, lam, data_gradient=None):
        """``data_gradient``: ``R^T X`` on ``features`` (``(K, len(features))``) where the
        caller has it (the fit's gradient at ``W``, less ``alpha W``); computed otherwise."""
        self.problem, self.W, self.b, self.A, self.R = problem, W, b, A, R
        self.features, self.lam = features, lam
        K = problem.K
        # c_i a_ik (softmax) or c_i a_ik (1 - a_ik), for the Newton steps and the formed
        # Hessian (the column sweeps form it from c and A: one array less in cache)
        self.V = problem.c[:, None] * (A if problem.softmax else A * (1 - A))
        # the intercepts' block of the model's Hessian (K x K; sigmoids: diagonal)
        self.Hb = (
            intercept_block(problem.softmax, A, self.V)
            if problem.fit_intercept
            else np.zeros((K, K))
        )
        # the data gradient R^T X on the working set (the sweeps add H Q to it)
        self.gradient = data_gradient
        if data_gradient is None:
            self.gradient = np.empty((K, len(features)))
            problem.kernels.selected_products(
                *problem.columns(), features, R, self.gradient, threads=torch.get_num_threads()
            )
        self.U, self.Ub = W.copy(), b.copy()
        self.Q, self.S = np.zeros((problem.n, K)), np.zeros(problem.n)
        self.gram = None  # the softmax's last formed Hessian block (_gram_cd)

    @cached_property
    def blocks(self) -> np.ndarray:
        """Each working column's own block of the Hessian, ``(len(features), K, K)``
        (with ``alpha I``): formed at the first sweep (a model solved on its factored
        Hessian, :meth:`solve_at_zero`, needs none)."""
        p = self.problem
        blocks = np.empty((len(self.features), p.K, p.K))
        p.kernels.column_hessians(
            *p.columns(), self.A, p.c, p.softmax, self.features, p.alpha, blocks,
            threads=p.threads,
        )  # fmt: skip
        return blocks

    @cached_property
    def flat_rows(self) -> np.ndarray | None:
        """The rows a formed softmax Hessian may leave out (``_curved_rows``), or None."""
        return flat_rows(self) if self.problem.softmax else None

    @property
    def hb(self) -> np.ndarray:
        """The intercepts' Hessian diagonal (of :attr:`Hb`)."""
        return np.diagonal(self.Hb)

    @property
    def n_curved_rows(self) -> int:
        """How many rows a formed softmax Hessian is formed on, at most."""
        return self.problem.n - (0 if self.flat_rows is None else len(self.flat_rows))

    def sweep(self, chosen) -> float:
        from softmaxreg.solvers import _threaded_sweep  # compiled: imported once L1 runs

        p = self.problem
        return _threaded_sweep.sweep(
            *p.columns(),
            self.A,
            p.c,
            self.V,
            self.R,
            p.labels,
            self.Q,
            self.S,
            p.softmax,
            self.U,
            self.Ub,
            self.Hb,
            self.features,
            self.blocks,
            self.gradient,
            chosen,
            self.lam,
            p.alpha,
            p.fit_intercept,
            threads=torch.get_num_threads(),
        )

    def move_columns(self, columns: np.ndarray, start: np.ndarray, moved: np.ndarray) -> None:
        """Set ``U[:, columns]`` (and ``Ub``, where ``moved`` has one more column: the
        intercepts) from ``start`` to ``moved`` (``(K, len(columns) [+ 1])``), with ``Q``
        (and, softmax, ``S``) following: one pass over the columns' non-zeros."""
        p, problem = len(columns), self.problem
        delta = moved - start
        self.U[:, columns] = moved[:, :p]
        change = np.zeros_like(self.Q) if problem.softmax else self.Q
        problem.kernels.add_selected(
            *problem.columns(), columns, np.ascontiguousarray(delta[:, :p]), change,
            threads=problem.threads,
        )  # fmt: skip
        if moved.shape[1] > p:
            self.Ub[:] = moved[:, p]
            change += delta[:, p]
        if problem.softmax:
            self.Q += change
            self.S += (self.A * change).sum(axis=1)

    def value(self, U, Q, S) -> float:
        """``q`` up to its constant, from the net-input change ``Q`` (and ``S``): its data
        terms in one compiled pass over the rows, its coefficient terms over the working
        set's columns only (the others never move)."""
        p, f = self.problem, self.features
        linear, curvature = p.kernels.quadratic_terms(self.A, p.c, self.R, Q, S, p.softmax)
        W, D = self.W[:, f], U[:, f] - self.W[:, f]
        smooth = linear + p.alpha * float((W * D).sum())
        smooth += 0.5 * curvature + 0.5 * p.alpha * float((D * D).sum())
        return smooth + self.lam * float(np.abs(U[:, f]).sum())

    def solve(self, tolerance: float, max_sweeps: int, expected: int = 0) -> int:
        """Cyclic coordinate descent: a sweep over all columns, then sweeps over those with
        a non-zero coefficient until their largest change ``|delta| h`` is below
        ``tolerance`` (glmnet's active set; every ``ANDERSON`` sweeps the Anderson
        extrapolation of the last iterates replaces the point when it lowers ``q``), then
        all again, until a sweep over all changes less than ``tolerance`` or
        ``max_sweeps``. Every ``NEWTON_EVERY`` active sweeps (``SPARSE_NEWTON_SWEEPS`` where
        the active columns stay sparse, without a dense copy; twice as many after a step
        that failed; at most ``MAX_NEWTON_STEPS`` per model) a Newton-CG step on the
        non-zero coordinates (``_support_newton``; none where the Hessian will be formed
        within a few sweeps). The active set's sweeps move to its formed Hessian (softmax:
        on the non-zero coefficients) once they have cost as much as forming it
        (``_gram_cd``), counting ``expected`` sweeps as already spent; a softmax model
        whose sweeps have paid for it before they start (the last model formed its own)
        begins there, on the non-zero coefficients and those that violate their optimality
        condition (:meth:`_violators`), without the first sweep over all columns. Returns
        the number of sweeps."""
        everything = np.arange(len(self.features))
        sweeps = self.active_sweeps = self.newton_steps = 0
        self.formed = False
        start = self._violators() if expected >= MAX_SWEEPS else None
        while sweeps < max_sweeps:
            joining = None
            if start is not None:
                active, joining = start
                start = None
            else:
                sweeps += 1
                if self.sweep(everything) <= tolerance:
                    break
                active = self.problem.kernels.nonzero_columns(self.U, self.features)
            columns = self.features[active]
            iterates = []
            # the softmax's Hessian is formed on the non-zero coefficients (_gram_cd)
            classes = self.U[:, columns] != 0 if self.problem.softmax else None
            if joining is not None:
                classes |= joining
            rule = RentOrBuy(self.problem, columns, expected, classes, self.n_curved_rows)
            subset = None  # X_S for the Newton-CG steps, made at the first
            # Newton-CG steps where G cannot be formed (which brings its own Newton steps:
            # on binary text, a dense copy and CG before forming G cost more than they saved)
            since_newton = 0
            every = NEWTON_EVERY  # active sweeps between Newton-CG steps that succeed
            interval = math.inf if rule.forms_soon() else every
            while sweeps < max_sweeps:
                method = rule.choice()
                if method is not None:
                    sweeps += solve_on_gram(
                        self, columns, method, tolerance, max_sweeps - sweeps, classes
                    )
                    self.formed = True
                    break
                rule.record_sweep()
                sweeps += 1
                self.active_sweeps += 1
                if self.sweep(active) <= tolerance:
                    break
                since_newton += 1
                wanted = since_newton >= interval and self.newton_steps < MAX_NEWTON_STEPS
                if wanted and subset is None:
                    subset = ActiveColumns(self.problem, columns)
                    if subset.dense is None:  # sparse columns: a step costs ~ its sweeps
                        every = SPARSE_NEWTON_SWEEPS
                        interval = max(interval, every)
                        wanted = since_newton >= interval
                if wanted:
                    self.newton_steps += 1
                    since_newton = 0
                    if support_newton_step(self, subset, active):
                        interval = every
                        iterates = []
                        continue
                    interval *= 2  # a failed step: fewer tries, Anderson runs between them
                iterates.append(
                    (self.U[:, columns].copy(), self.Ub.copy(), self.Q.copy(), self.S.copy())
                )
                if len(iterates) == ANDERSON + 1:
                    self._extrapolate(iterates, columns)
                    iterates = []
        return sweeps

    def solve_at_zero(self, tolerance: float, max_sweeps: int) -> int:
        """:meth:`solve` for a model whose rows all have the same activations (``W = 0``):
        coordinate descent on its exact Kronecker-factored Hessian (``_zero_start``), no
        sweep over the data. Its sweeps after the first count as active ones (the next
        model's rent-or-buy rule); :meth:`solve` where the factor overflows float64.
        Returns the number of sweeps."""
        from softmaxreg.solvers import _zero_start  # compiled: imported once L1 runs

        sweeps = _zero_start.solve_at_zero(self, tolerance, max_sweeps)
        if sweeps is None:  # its factor overflows: the column sweeps
            return self.solve(tolerance, max_sweeps)
        self.formed, self.newton_steps = False, 0
        self.active_sweeps = max(sweeps - 1, 0)
        return sweeps

    def _violators(self):
        """For a softmax model: ``(active, joining)``, the positions in ``features`` of the
        columns with a non-zero coefficient or one whose ``|grad_kj| > lam`` at ``U = W``
        (the coordinates the first sweep would move off zero), and those coefficients
        (bool, ``(K, len(active))``); None where there are none (the sweep starts) or the
        block on them cannot be formed."""
        if not self.problem.softmax:
            return None
        f = self.features
        nonzero = self.U[:, f] != 0
        grad = self.gradient + self.problem.alpha * self.U[:, f]  # q's gradient at U = W
        joining = ~nonzero & (np.abs(grad) > self.lam)
        active = np.flatnonzero((nonzero | joining).any(axis=0))
        if active.size == 0:
            return None
        if not formable(self.problem, f[active], nonzero[:, active] | joining[:, active]):
            return None
        return active, joining[:, active]

    def _extrapolate(self, iterates, columns) -> None:
        """Anderson extrapolation (as celer and skglm do) of the last iterates, kept only
        when it lowers the model. ``Q`` and ``S`` are affine in ``(U, Ub)`` and the weights
        sum to 1: the same weights give theirs."""
        points = np.stack([np.concatenate([u.ravel(), ub]) for u, ub, _, _ in iterates])
        differences = np.diff(points, axis=0)
        gram = differences @ differences.T
        try:
            z = np.linalg.solve(
                gram + 1e-12 * np.trace(gram) * np.eye(len(gram)), np.ones(len(gram))
            )
        except np.linalg.LinAlgError:
            return
        if not np.isfinite(z).all() or z.sum() == 0:
            return
        weights = z / z.sum()

        def combine(part):
            return sum(w * point[part] for w, point in zip(weights, iterates[:-1], strict=True))

        before, kept = self.value(self.U, self.Q, self.S), self.U[:, columns].copy()
        self.U[:, columns] = combine(0)  # (in place: no copy of U's size)
        Ub, Q, S = combine(1), combine(2), combine(3)
        if self.value(self.U, Q, S) < before:
            self.Ub, self.Q, self.S = Ub, Q, S
        else:
            self.U[:, columns] = kept


def proximal_newton(
    objective,
    theta0,
    *,
    penalty,
    max_iter=100,
    tol=1e-4,
    random_state=None,
    verbose=0,
    callback=None,
    **_unused,
) -> SolverResult:
    """Minimise ``f(theta) + g(theta)`` until the subgradient rule holds or ``max_iter``."""
    problem = ColumnProblem(objective, random_state)
    scale = objective.gradient_scale()
    lam = penalty.strength
    W, b = problem.split(theta0)
    Z = problem.net_inputs(W, b)

    def penalty_of(W):
        return problem.smooth_penalty(W) + lam * float(np.abs(W).sum())

    def optimality_of(W, b, G, gb):
        """``max |L1Penalty.optimality|``: over ``W`` compiled, then the intercepts'."""
        coefficients = problem.kernels.l1_optimality(W, G, lam)
        return float(np.max([coefficients, *(np.abs(gb) if problem.fit_intercept else [])]))

    loss, A, R = problem.loss(Z, with_activations=True)
    penalty = penalty_of(W)
    total = loss + penalty
    G, gb = problem.gradient(R, W)
    history, n_iter, stalled, spare = [], 0, False, None
    # the last model's column sweeps over its active set: as many are deemed spent on the
    # next one's (a model that formed its Hessian counts as having spent whatever it costs)
    expected = 0
    optimality = optimality_of(W, b, G, gb)
    converged = optimality <= tol * scale
    # once the rule holds, one more Newton step with a tight inner solve (as newton-cg's
    # polishing step): near the optimum it takes the gap to about its square, so fits from
    # different starts (a warm-started path, a fresh fit) end at the same point; small
    # problems only, where one more model costs little
    polished = objective.n_samples > POLISH_MAX_ROWS
    while not (converged and polished) and n_iter < max_iter:
        features = working_set(W, G, lam, WORKING_SET_MIN)
        # inexact inner solves, tighter as the outer iterate converges (superlinear rate)
        forcing = FORCING_FORMED if formable(problem, features) else FORCING_SWEPT
        tolerance = optimality * min(INNER_SHARE, forcing * np.sqrt(optimality / scale))
        tolerance = max(tolerance, INNER_FLOOR * tol * scale)
        if converged:
            tolerance = min(tolerance, POLISH_INNER * optimality)
        # R^T X on the working set from the fit's gradient (the same bits without L2; with
        # it, rounded as G - alpha W): a product over its columns less a model
        data_gradient = G[:, features] - problem.alpha * W[:, features]
        model = QuadraticModel(problem, W, b, A, R, features, lam, data_gradient)
        if n_iter == 0 and problem.softmax and not W.any():  # (rows alike: H factors)
            sweeps = model.solve_at_zero(tolerance, MAX_SWEEPS)
        else:
            sweeps = model.solve(tolerance, MAX_SWEEPS, expected)
        expected = MAX_SWEEPS if model.formed else model.active_sweeps
        U, Ub, Q = model.U, model.Ub, model.Q
        model = None  # (its arrays, (n, K) and the formed block, freed before the passes)
        # the model moves the working set's columns only: the step, its decrease and the
        # penalty's change from those (the others of U are W's)
        W_f, U_f = W[:, features], U[:, features]
        D_f, db = U_f - W_f, Ub - b
        penalty_f = penalty_of(W_f)
        decrease = float((G[:, features] * D_f).sum() + gb @ db)
        decrease += lam * (float(np.abs(U_f).sum()) - float(np.abs(W_f).sum()))
        step, accepted = 1.0, None
        for _ in range(MAX_HALVINGS):
            trial_f = U_f if step == 1.0 else W_f + step * D_f
            trial_penalty = penalty - penalty_f + penalty_of(trial_f)
            Z_trial = Z + step * Q
            trial_total = problem.loss(Z_trial) + trial_penalty
            rounding = 8 * np.finfo(np.float64).eps * abs(total)
            if trial_total <= total + ARMIJO * step * decrease + rounding:
                W_trial = U
                if step != 1.0:
                    W_trial = W.copy()
                    W_trial[:, features] = trial_f
                b_trial = b + step * db if step != 1.0 else Ub
                accepted = (W_trial, b_trial, Z_trial, trial_total, trial_penalty)
                break
            step /= 2
        Q = None
        if accepted is None:
            stalled = True
            break
        W_new, b_new, Z_new, total_new, penalty_new = accepted
        _, A_new, R_new = problem.loss(Z_new, with_activations=True)
        G_new, gb_new = problem.gradient(R_new, W_new, out=spare)
        optimality_new = optimality_of(W_new, b_new, G_new, gb_new)
        # a step whose change of F is below rounding still counts when it brings the
        # subgradient closer to 0 (near the optimum F cannot tell better points apart); one
        # that does neither leaves nothing to gain at this precision (a tol below what float
        # arithmetic can reach would otherwise run to max_iter)
        if not (total_new < total or optimality_new < optimality):
            stalled = not converged
            break
        n_iter += 1
        # (a step within rounding of F keeps the lower value: the history never rises)
        W, b, Z, total = W_new, b_new, Z_new, min(total_new, total)
        penalty = penalty_new  # (kept by changes: off by ~n_iter eps of itself, as F is)
        spare = G  # the last gradient's array takes the next one
        A, R, G, gb, optimality = A_new, R_new, G_new, gb_new, optimality_new
        history.append(total)
        if verbose:
            print(
                f"proximal-newton iter {n_iter}: F = {total:.6f}, step = {step:.3g}, "
                f"scaled optimality = {optimality / scale:.3e}, working set = "
                f"{len(features)} columns, sweeps = {sweeps}, non-zero = {int((W != 0).sum())}"
            )
        polished = converged or objective.n_samples > POLISH_MAX_ROWS
        converged = optimality <= tol * scale
        if wants_stop(callback, n_iter, _on_device(problem.join(W, b), objective), total):
            break
    if not converged and (n_iter >= max_iter or stalled):
        reason = "the line search found no decrease" if stalled else "max_iter reached"
        warn_not_converged(
            "proximal-newton",
            n_iter,
            f"{reason}; scaled optimality {optimality / scale:.2e} > tol = {tol}",
        )
    theta = _on_device(problem.join(W, b), objective)
    return SolverResult(theta=theta, n_iter=n_iter, converged=converged, history=history)


def _on_device(theta: torch.Tensor, objective) -> torch.Tensor:
    return theta.to(device=objective.device, dtype=torch.float64)

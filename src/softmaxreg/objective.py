"""The penalised negative log-likelihood of a linear model, the objective every solver minimises.

For parameters ``W`` (``K x m``) and ``b`` (``K``), net inputs ``Z = X W^T + b`` and
per-sample cross-entropies ``CE_i`` of the model's activations (sigmoid for "binary",
softmax for "multinomial", independent sigmoids for "multilabel"):

    f(W, b) = C * sum_i s_i * CE_i + 0.5 * ||W||^2       (b is not penalised)

which is exactly the objective scikit-learn's ``LogisticRegression`` minimises. One object
owns the value, the gradient and the Hessian-vector product (in the spirit of
scikit-learn's ``_linear_loss.py``); the solvers see nothing else.

The data is converted once to ``dtype`` on ``device``; the parameter vector ``theta``
(``W`` row-major, then ``b``) is kept in float64 so that the solvers' bookkeeping
(line searches, L-BFGS memory) is exact; only the two products with ``X`` run in
``dtype``. Values are always returned as float64.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from softmaxreg._design.matrix import make_design
from softmaxreg._objective_line import NetInputLine

KINDS = ("binary", "multinomial", "multilabel")
# rows per block of the dense Hessian: 16384 x 51 float64 is 6.7 MB (plus one scaled copy)
GRAM_BLOCK_ROWS = 16_384
PARAM_DTYPE = torch.float64


def check_gradient_scale(C: float, weight_sum: float) -> None:
    """Raise ValueError where ``C * sum_i s_i`` is not finite in float64.

    That product scales the data term of ``f`` and its gradient, and it is the divisor of
    every full-batch solver's stopping rule (``max |grad f| / (C sum_i s_i) <= tol``): an
    infinite one makes the rule hold at the start and the fit return ``theta0``, while
    ``C * s_i``, what the objective weighs each row by, may well be finite (``C = 1e-307``
    with weights of ``1e307``)."""
    if not np.isfinite(C * weight_sum):
        raise ValueError(
            f"C * sum(sample_weight) = {C:g} * {weight_sum:g} overflows float64: divide "
            "sample_weight by a constant and multiply C by it (the same problem), or use a "
            "smaller C (C=np.inf: no penalty)"
        )


class LinearObjective:
    """``f(theta) = C * sum_i s_i CE_i(X W^T + b) + 0.5 alpha ||W||^2`` with gradient and Hessian.

    ``alpha`` is ``l2_strength`` (1 by default; ``1 - l1_ratio`` for the smooth part of an
    elastic net, whose L1 part lives in :mod:`softmaxreg.penalties`); ``penalize=False``
    sets it to 0. ``n_classes`` (multinomial): K when the targets may lack the last classes
    (a cross-validation fold); default the largest class index + 1.
    """

    def __init__(
        self,
        X,
        targets,
        kind: str,
        *,
        C: float = 1.0,
        penalize: bool = True,
        l2_strength: float = 1.0,
        fit_intercept: bool = True,
        sample_weight=None,
        dtype: torch.dtype = torch.float32,
        device="cpu",
        n_classes: int | None = None,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype such as torch.float32, got {dtype}")
        if not np.isfinite(C) or C <= 0:
            raise ValueError(f"C must be a positive finite number, got {C!r}")
        if not np.isfinite(l2_strength) or l2_strength < 0:
            raise ValueError(f"l2_strength must be a finite number >= 0, got {l2_strength!r}")
        # the weight alpha of the term 0.5 * alpha * ||W||^2 (elastic-net: 1 - l1_ratio)
        self.l2_strength = float(l2_strength) if penalize else 0.0
        self.kind, self.C, self.penalize = kind, float(C), self.l2_strength > 0
        self.fit_intercept, self.dtype = bool(fit_intercept), dtype
        self.device = torch.device(device)
        self.design = make_design(X, dtype, self.device)
        self.n_samples, self.n_features = self.design.n_samples, self.design.n_features
        self.targets = self._convert_targets(targets, n_classes)
        self.n_outputs = 1 if kind == "binary" else int(self._n_outputs)
        self.n_params = self.n_outputs * (self.n_features + int(self.fit_intercept))
        self.sample_weight = self._convert_weights(sample_weight)
        # (theta, its version counter, the net inputs Z^T) of the last pass, for the
        # Hessian at that point (its activations) and line searches from it (along): the
        # tensor itself, not a copy (on wide data theta is tens of MB), and its version
        # tells whether it was changed in place since
        self._last_pass: tuple[torch.Tensor, int, torch.Tensor] | None = None
        self._zero_start: weakref.ref | None = None
        self.weight_sum = (
            float(self.n_samples)
            if self.sample_weight is None
            else float(self.sample_weight.sum(dtype=torch.float64))
        )
        check_gradient_scale(self.C, self.weight_sum)

    # ------------------------------------------------------------------ input checks
    def _convert_targets(self, targets, n_classes) -> torch.Tensor:
        t = targets if isinstance(targets, torch.Tensor) else torch.as_tensor(np.asarray(targets))
        t = t.detach().to(self.device)
        n = self.n_samples
        if self.kind == "multinomial":
            if t.ndim != 1 or t.shape[0] != n:
                raise ValueError(f"multinomial targets must be class indices of shape ({n},)")
            if t.is_floating_point() and not torch.equal(t, t.round()):
                raise ValueError("multinomial targets must be integer class indices 0..K-1")
            t = t.long()
            if n and int(t.min()) < 0:
                raise ValueError("multinomial class indices must be >= 0")
            self._n_outputs = int(t.max()) + 1 if n else 0
            if n_classes is not None:
                if n_classes < self._n_outputs:
                    raise ValueError(
                        f"n_classes={n_classes} is smaller than the largest class index + 1 "
                        f"({self._n_outputs})"
                    )
                self._n_outputs = int(n_classes)
            if self._n_outputs < 2:
                raise ValueError("multinomial targets need at least 2 classes (indices 0..K-1)")
            return t
        expected = (n,) if self.kind == "binary" else None
        if self.kind == "binary" and tuple(t.shape) != expected:
            raise ValueError(f"binary targets must have shape ({n},), got {tuple(t.shape)}")
        if self.kind == "multilabel" and (t.ndim != 2 or t.shape[0] != n):
            raise ValueError(f"multilabel targets must have shape ({n}, K), got {tuple(t.shape)}")
        t = t.to(self.dtype)
        if not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{self.kind} targets must be 0 or 1")
        self._n_outputs = 1 if self.kind == "binary" else t.shape[1]
        return t.reshape(n, -1)

    def _convert_weights(self, sample_weight) -> torch.Tensor | None:
        if sample_weight is None:
            return None
        s = (
            sample_weight
            if isinstance(sample_weight, torch.Tensor)
            else torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
        )
        s = s.detach().to(device=self.device, dtype=self.dtype)
        if tuple(s.shape) != (self.n_samples,):
            raise ValueError(
                f"sample_weight must have shape ({self.n_samples},), got {tuple(s.shape)}"
            )
        if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
            raise ValueError("sample_weight must be finite and >= 0")
        return s

    # ------------------------------------------------------------------ parameters
    def pack(self, W, b=None) -> torch.Tensor:
        """``theta = [vec(W) (row-major, K x m), b (K)]`` as a float64 vector."""
        W = torch.as_tensor(W, dtype=PARAM_DTYPE, device=self.device).reshape(-1)
        if not self.fit_intercept:
            return W.clone()
        if b is None:
            b = torch.zeros(self.n_outputs, dtype=PARAM_DTYPE, device=self.device)
        b = torch.as_tensor(b, dtype=PARAM_DTYPE, device=self.device).reshape(-1)
        return torch.cat([W, b])

    def unpack(
        self, theta: torch.Tensor, features_major: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W (K, m), b (K,) or None)`` as views of ``theta`` (``features_major``: see
        :meth:`weight_view`). The design converts them to the data's dtype in the layout its
        product needs (one copy; on wide data ``W`` is tens of MB)."""
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {tuple(theta.shape)}")
        b = theta[self.n_outputs * self.n_features :] if self.fit_intercept else None
        return self.weight_view(theta, features_major), b

    def zeros(self) -> torch.Tensor:
        """The starting point ``theta = 0`` (float64, on the objective's device).

        On CPU from NumPy's ``calloc``: the operating system maps untouched zero pages only
        when written, so a start that is only read (Newton-CG's) takes no memory (42 MB
        with 5.2 million parameters) until a solver writes into it."""
        if self.device.type == "cpu":
            zeros = torch.from_numpy(np.zeros(self.n_params, dtype=np.float64))
        else:
            zeros = torch.zeros(self.n_params, dtype=PARAM_DTYPE, device=self.device)
        self._zero_start = weakref.ref(zeros)  # its net inputs are 0: no product (_at_zero)
        return zeros

    def _at_zero(self, theta: torch.Tensor) -> bool:
        """Whether ``theta`` is the tensor :meth:`zeros` made and still all zeros (checked
        by value: a write through a NumPy view escapes torch's version counter)."""
        made = self._zero_start() if self._zero_start is not None else None
        return theta is made and not bool(theta.any())

    def remove_flat_directions(self, direction: torch.Tensor) -> torch.Tensor:
        """Project out the directions in which ``f`` is constant, in place (``direction`` is
        returned; on wide data a copy is tens of MB).

        For the multinomial model with an intercept, ``softmax(z + c 1) = softmax(z)`` and
        ``b`` is not penalised, so ``f(W, b + c 1) = f(W, b)``: the intercept part of the
        direction is centred (``b_k - mean_k b_k``). Other models have no flat direction.
        """
        if self.kind != "multinomial" or not self.fit_intercept:
            return direction
        intercept = direction[self.n_outputs * self.n_features :]
        intercept -= intercept.mean()
        return direction

    def gradient_scale(self) -> float:
        """``C * sum_i s_i``: dividing by it gives scikit-learn's mean-loss gradient."""
        return self.C * self.weight_sum

    # ------------------------------------------------------------------ core math
    def _net_input(self, design, theta: torch.Tensor) -> torch.Tensor:
        W, b = self.unpack(theta.to(device=self.device, dtype=PARAM_DTYPE))
        return design.linear(W, b)

    def _loss_and_residual(self, Z_t: torch.Tensor, targets: torch.Tensor, weights):
        """Per-sample ``CE_i`` and ``dCE_i/dZ_i`` (``A - Y``), times ``s_i`` when weighted,
        for a block of net inputs held classes-major (``Z^T``, ``(K, rows)``); the residual
        comes back the same way.

        binary/multilabel: ``CE = sum_k softplus(z_k) - y_k z_k``, ``dCE/dz = sigma(z) - y``;
        multinomial: ``CE = logsumexp(z) - z_y``, ``dCE/dz = softmax(z) - onehot(y)``.
        Classes-major because a softmax over each column's ``K`` classes runs ~6x faster on
        CPU than over each row of ``(rows, K)``, and ``R^T`` is what ``R^T X`` multiplies.
        """
        Z_t = Z_t.contiguous()
        if self.kind == "multinomial":
            log_a = torch.log_softmax(Z_t, dim=0)
            index = targets.unsqueeze(0)
            loss = -log_a.gather(0, index).squeeze(0)
            residual = log_a.exp_()
            residual.scatter_add_(0, index, torch.full_like(loss, -1.0).unsqueeze(0))
        else:
            loss = (F.softplus(Z_t) - targets.T * Z_t).sum(dim=0)
            residual = torch.sigmoid(Z_t)
            residual.sub_(targets.T)
        if weights is not None:
            loss = loss * weights
            residual = residual * weights.unsqueeze(0)
        return loss, residual

    def _penalty(self, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        """``(0.5 alpha ||W||^2, its gradient [alpha W, 0])``, each vector pass in place (on
        wide data, 5.2 million parameters, the temporaries took as long as the products)."""
        return self._penalty_value(theta), self._penalty_gradient(theta)

    def _penalty_value(self, theta: torch.Tensor) -> float:
        """``0.5 alpha ||W||^2`` (0 without a penalty)."""
        if not self.penalize:
            return 0.0
        weights = theta[: self.n_outputs * self.n_features]
        return 0.5 * self.l2_strength * float(torch.dot(weights, weights))

    def _penalty_gradient(self, v: torch.Tensor) -> torch.Tensor:
        """``[alpha V, 0]`` for the parameter vector ``v`` (zeros without a penalty)."""
        if not self.penalize:
            return torch.zeros_like(v)
        size = self.n_outputs * self.n_features
        out = torch.empty_like(v)
        torch.mul(v[:size], self.l2_strength, out=out[:size])
        out[size:] = 0.0
        return out

    def value(self, theta: torch.Tensor) -> float:
        """``f(theta) = C * sum_i s_i CE_i + 0.5 ||W||^2`` (float64)."""
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        Z = self._net_input(self.design, theta)
        if self.kind == "multinomial":
            loss = torch.logsumexp(Z, dim=1) - Z.gather(1, self.targets.unsqueeze(1)).squeeze(1)
        else:
            loss = (F.softplus(Z) - self.targets * Z).sum(dim=1)
        if self.sample_weight is not None:
            loss = loss * self.sample_weight
        return self.C * float(loss.sum(dtype=torch.float64)) + self._penalty_value(theta)

    def value_and_grad(self, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        """``f(theta)`` and its gradient.

        ``grad_W = C (S (A - Y))^T X + W`` and ``grad_b = C sum_i s_i (a_i - y_i)``, computed
        in one fused pass over row blocks of ``X`` (each block feeds both products); at the
        tensor :meth:`zeros` made (a solver's usual start), still zero, ``Z = 0`` and only
        ``R^T X`` is computed (a pass over the text-like bench data: 0.45 -> 0.28 s).
        """
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        if self._at_zero(theta):  # the usual start: Z = 0 without a product
            Z_t = torch.zeros(self.n_outputs, self.n_samples, dtype=self.dtype,
                              device=self.device)
            loss, residual_t = self._loss_and_residual(Z_t, self.targets, self.sample_weight)
            return self.gradient_from_residual(theta, Z_t, loss.sum(dtype=torch.float64),
                                               residual_t)
        W, b = self.unpack(theta)
        loss_total = torch.zeros((), dtype=torch.float64, device=self.device)

        # the net inputs are kept (n x K, small beside X): Newton-CG's Hessian at the point
        # the line search accepted then needs no pass over X of its own, and a line search
        # from it none per trial (along). Held classes-major (K, n), the layout of the blocks
        net_inputs_t = torch.empty(self.n_outputs, self.n_samples, dtype=self.dtype,
                                   device=self.device)

        def block_residual(Z_t, rows):
            nonlocal loss_total
            weights = None if self.sample_weight is None else self.sample_weight[rows]
            net_inputs_t[:, rows] = Z_t
            loss, residual_t = self._loss_and_residual(Z_t, self.targets[rows], weights)
            loss_total += loss.sum(dtype=torch.float64)
            return residual_t

        product, column_sums = self.design.fused_transposed_product(W, b, block_residual)
        return self._finish_pass(theta, net_inputs_t, loss_total, product, column_sums)

    def gradient_from_residual(self, theta, net_inputs_t, loss_total, residual_t, out=None):
        """``(f, grad f)`` at ``theta`` from its net inputs ``Z^T``, the data term's loss sum
        and residual ``R^T`` (``(K, n)``) there: one product ``R^T X``; ``Z^T`` is kept as
        the last pass's. ``out``: a float64 tensor of ``theta``'s shape, not ``theta``,
        that receives the gradient (else a new one)."""
        product = self.design.transposed_product(residual_t.T)
        column_sums = residual_t.sum(dim=1, dtype=torch.float64)
        return self._finish_pass(theta, net_inputs_t, loss_total, product, column_sums, out)

    def _finish_pass(self, theta, net_inputs_t, loss_total, product, column_sums, out=None):
        """``(f, grad f)`` from a pass's loss sum and products ``R^T X``, ``sum_i R_i``;
        its net inputs ``Z^T`` kept as the last pass's (the gradient into ``out`` if given)."""
        self._last_pass = (theta, theta._version, net_inputs_t)
        grad = self._data_term_plus_penalty(theta, product, column_sums, self.C, out=out)
        return self.C * float(loss_total) + self._penalty_value(theta), grad

    def _last_net_inputs(self, theta: torch.Tensor) -> torch.Tensor | None:
        """``Z^T`` of the last pass if it was at this very tensor, unchanged by any tracked
        in-place operation since; else None."""
        last = self._last_pass
        if last is not None and last[0] is theta and theta._version == last[1]:
            return last[2]
        return None

    def rows_net_inputs(self, theta: torch.Tensor, rows: torch.Tensor,
                        at_last_pass: bool = False) -> torch.Tensor:
        """``Z_r^T`` (``(K, |rows|)``, the data's dtype): the net inputs of ``rows`` at
        ``theta``, taken from the last pass where the caller promises ``theta`` is its
        tensor (``at_last_pass``, see :meth:`_full_activations`), else a product with those
        rows of ``X``."""
        rows = rows.to(self.device)
        Z_t = self._last_net_inputs(theta) if at_last_pass else None
        if Z_t is not None:
            return Z_t[:, rows]
        return self._net_input(self.design.rows(rows), theta).T.contiguous()

    def along(self, theta: torch.Tensor, direction: torch.Tensor) -> NetInputLine:
        """``f`` along ``theta + alpha d`` from the net inputs (``_objective_line.py``): a
        line search's trials cost ``O(n K)`` each and the step it takes one product
        ``X^T R``; ``D = X d`` costs one product now (and ``Z = X theta`` one more unless
        ``theta`` is the tensor of the last pass, as for a solver after its line search)."""
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        direction = direction.to(device=self.device, dtype=PARAM_DTYPE)
        Z_t = self._last_net_inputs(theta)
        if Z_t is None:
            Z_t = self._net_input(self.design, theta).T.contiguous()
        return NetInputLine(self, theta, direction, Z_t)

    def weight_view(self, vector: torch.Tensor, features_major: bool = False) -> torch.Tensor:
        """The ``W`` part of a parameter-length vector as a ``(K, m)`` view: of its
        ``(K, m)`` rows, or with ``features_major`` the transpose of its ``(m, K)`` rows."""
        K, m = self.n_outputs, self.n_features
        return vector[: K * m].view(m, K).T if features_major else vector[: K * m].view(K, m)

    @property
    def prefers_features_major(self) -> bool:
        """Whether the design's products take and give ``W`` as ``(m, K)`` rows (scipy's
        sparse products on CPU): there ``hessian_operator(features_major=True)`` saves two
        transposes of ``W`` per product (7 ms each with 5.2 million parameters)."""
        return bool(getattr(self.design, "features_major", False))

    def _data_term_plus_penalty(
        self, v, product, column_sums, scale: float, features_major: bool = False, out=None
    ) -> torch.Tensor:
        """``[scale P + alpha V, scale c]`` in ``v``'s dtype, for the products ``P = R^T X``
        (``(K, m)``, any layout and dtype) and ``c = sum_i R_i`` of the last pass: the
        gradient (``v = theta``, ``scale = C``) or ``H v``.

        ``P`` is first copied into the output, then scaled there: in float64 for the
        gradient, where C times a float32 product may overflow float32 (C=1e34 on float32
        X). A copy of the transposed layout that sparse products give, then passes over
        contiguous memory, took 7 ms where one mixed-dtype transposed add took 31 ms (5.2
        million parameters). ``features_major``: ``v`` and the output in that layout.
        ``out``: the output (a tensor like ``v``, not ``v`` itself), else a new one.
        """
        K, m = self.n_outputs, self.n_features
        if out is None:
            out = torch.empty_like(v)
        elif out.shape != v.shape or out.dtype != v.dtype or out.data_ptr() == v.data_ptr():
            raise ValueError("out must be a tensor like v and not v itself")
        data = self.weight_view(out, features_major)
        data.copy_(product)
        data.mul_(scale)
        if self.penalize:
            data.add_(self.weight_view(v, features_major), alpha=self.l2_strength)
        if self.fit_intercept:
            out[K * m :] = column_sums * scale
        return out

    def batch_value_and_grad(self, theta: torch.Tensor, rows: torch.Tensor):
        """Estimate of ``f / (C n)`` and its gradient on ``rows``:
        ``sum_{i in rows} s_i CE_i / |rows| + ||W||^2 / (2 C n)``.

        The value is returned as a 0-dim float64 tensor (no device synchronisation).
        """
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        rows = rows.to(self.device)
        design = self.design.rows(rows)
        weights = None if self.sample_weight is None else self.sample_weight[rows]
        W, b = self.unpack(theta)
        loss, residual_t = self._loss_and_residual(
            design.linear(W, b).T, self.targets[rows], weights
        )
        residual = residual_t.T
        count = rows.numel()
        K, m = self.n_outputs, self.n_features
        grad = torch.empty_like(theta)
        grad[: K * m] = design.transposed_product(residual).reshape(-1)
        if self.fit_intercept:
            grad[K * m :] = residual.sum(dim=0, dtype=PARAM_DTYPE)
        grad /= count
        value = loss.sum(dtype=PARAM_DTYPE) / count
        if self.penalize:
            W64 = theta[: K * m]
            strength = self.l2_strength / (self.C * self.n_samples)
            grad[: K * m] += strength * W64
            value = value + 0.5 * strength * W64.dot(W64)
        return value, grad

    # ------------------------------------------------------------------ second order
    def hessian_operator(
        self,
        theta: torch.Tensor | None,
        rows: torch.Tensor | None = None,
        with_diagonal: bool = False,
        low_precision: bool = False,
        at_last_pass: bool = False,
        features_major: bool = False,
        net_inputs_t: torch.Tensor | None = None,
    ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor | None]:
        """The Hessian at ``theta`` as a function ``v -> H v``, and (if asked) its diagonal.

        ``H v = C sum_i s_i J_i^T H_i J_i v + [V, 0]`` with the per-sample curvature
        ``H_i = diag(a_i) - a_i a_i^T`` (softmax) or ``diag(a_i (1 - a_i))`` (sigmoids).
        With ``rows`` the data term is estimated on those rows only (scaled by
        ``sum_i s_i / sum_{i in rows} s_i``): a subsampled Hessian for Newton-CG.
        ``low_precision``: the two products with ``X`` in ``H v`` may use a bfloat16 copy of
        ``X`` (where the CPU has native bfloat16 products; see
        ``DenseDesign.low_precision``): ``H v`` to about 3 significant digits, for CG
        directions whose accuracy the line search and the exact gradient make up for.
        ``at_last_pass``: the caller's promise that ``theta`` is the tensor of the last
        ``value_and_grad`` call, unchanged since (see :meth:`_full_activations`).
        ``features_major``: ``v``, ``H v`` and the diagonal hold ``W`` transposed (``W^T``
        flattened, ``(m, K)``) before ``b``, the layout of the sparse products
        (:attr:`prefers_features_major`): CG's vectors then need no transposes.
        ``net_inputs_t``: the net inputs at ``theta`` on every row, classes-major
        ``(K, n)``, where the caller has them (a subsampled Hessian's rows' problem takes
        them from the full problem's last pass, ``_row_subproblem``); ``theta`` is then not
        read (None is accepted) and ``rows`` must be None.
        """
        design, weights, scale = self.design, self.sample_weight, self.C
        if net_inputs_t is not None:
            if rows is not None:
                raise ValueError("net_inputs_t are those of every row: give no rows with them")
            A = self._activations(net_inputs_t.T)
        elif rows is not None:
            theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
            rows = rows.to(self.device)
            design = design.rows(rows)
            weights = None if weights is None else weights[rows]
            part = rows.numel() if weights is None else float(weights.sum(dtype=torch.float64))
            scale = self.C * self.weight_sum / max(part, 1e-300)
            A = self._activations(self._net_input(design, theta))
        else:
            A = self._full_activations(theta.to(device=self.device, dtype=PARAM_DTYPE),
                                       at_last_pass)
        # the data's dtype carries s_i a (1 - a) and the products; the factor C (or the
        # subsample's) is applied to their float64 sums, where C x a float32 product may
        # overflow float32 (C=1e34)
        curvature = None
        if with_diagonal or self.kind != "multinomial":
            curvature = A * (1 - A)
            if weights is not None:
                curvature = curvature * weights.unsqueeze(1)

        diagonal = None
        if with_diagonal:
            diagonal = self._hessian_diagonal(design, curvature, scale, features_major)

        # the blocks are classes-major (K, rows): see the design's fused_transposed_product
        A_t = A.T
        curvature_t = None if curvature is None else curvature.T

        def block_curvature_product(dZ_t, rows):
            if self.kind != "multinomial":
                return curvature_t[:, rows] * dZ_t
            A_block = A_t[:, rows]
            R = A_block * dZ_t
            R -= A_block * R.sum(dim=0, keepdim=True)
            return R if weights is None else R * weights[rows].unsqueeze(0)

        product_design = (design.low_precision() or design) if low_precision else design

        def hvp(v: torch.Tensor) -> torch.Tensor:
            # H v in v's precision: float64, or float32 for CG's vectors on wide float32 data
            # (newton_cg.py), whose products with X are float32 in either case
            dtype = v.dtype if v.dtype in (torch.float32, PARAM_DTYPE) else PARAM_DTYPE
            v = v.to(device=self.device, dtype=dtype)
            V, vb = self.unpack(v, features_major)
            product, column_sums = product_design.fused_transposed_product(
                V, vb, block_curvature_product
            )
            return self._data_term_plus_penalty(v, product, column_sums, scale, features_major)

        return hvp, diagonal

    def _full_activations(self, theta: torch.Tensor, at_last_pass: bool) -> torch.Tensor:
        """The activations ``A`` (``(n, K)``) on all rows: from the net inputs kept from the
        last pass where the caller says ``theta`` is that pass's tensor (a solver right after
        its line search) and it is, unchanged by any tracked in-place operation; a pass over
        ``X`` elsewhere.

        The promise is needed: a write that bypasses torch's version counter (through a
        NumPy view or ``.data``) leaves the tensor looking unchanged, and comparing values
        would need a copy of theta (tens of MB on wide data) at every pass.
        """
        Z_t = self._last_net_inputs(theta) if at_last_pass else None
        if Z_t is not None:
            return self._activations(Z_t.T)
        return self._activations(self._net_input(self.design, theta))

    def _activations(self, Z: torch.Tensor) -> torch.Tensor:
        """``softmax(z_i)`` of each row (multinomial) or ``sigma(Z)`` elementwise; the
        softmax runs over the columns of ``Z^T`` (about 6x faster on CPU than over the rows
        of ``(n, K)``: 0.9 against 5.8 ms for 60,000 x 10) and comes back as its ``(n, K)``
        transposed view."""
        if self.kind == "multinomial":
            return torch.softmax(Z.T.contiguous(), dim=0).T
        return torch.sigmoid(Z)

    def output_curvature(self, theta: torch.Tensor, at_last_pass: bool = False) -> torch.Tensor:
        """``S = C sum_i s_i H_i`` (``(K, K)``, float64), the per-sample curvatures summed.

        ``H_i = diag(a_i) - a_i a_i^T`` (softmax) or ``diag(a_i (1 - a_i))`` (sigmoids): with
        ``A = sum_i s_i x~_i x~_i^T / sum_i s_i`` the data term of the Hessian is roughly
        ``A (x) S``, the Kronecker factors of Newton-CG's preconditioner. ``at_last_pass``:
        as for :meth:`hessian_operator`.
        """
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        activations = self._full_activations(theta, at_last_pass).to(PARAM_DTYPE)
        weights = (
            None if self.sample_weight is None else self.sample_weight.to(PARAM_DTYPE)
        )
        weighted = activations if weights is None else activations * weights.unsqueeze(1)
        if self.kind == "multinomial":
            curvature = torch.diag(weighted.sum(dim=0)) - weighted.T @ activations
        else:
            curvature = torch.diag((weighted * (1 - activations)).sum(dim=0))
        return self.C * curvature

    def feature_gram(self, rows: torch.Tensor) -> torch.Tensor:
        """``A = sum_r s_r x~_r x~_r^T / sum_r s_r`` over ``rows`` (float64, ``(m', m')``):
        ``x~ = [x, 1]`` with an intercept, ``x`` without."""
        weights = None if self.sample_weight is None else self.sample_weight[rows]
        product, column_sums = self.design.gram(rows, weights)
        total = float(rows.numel()) if weights is None else float(weights.sum(dtype=torch.float64))
        if self.fit_intercept:
            m = self.n_features
            gram = torch.empty(m + 1, m + 1, dtype=PARAM_DTYPE, device=self.device)
            gram[:m, :m], gram[:m, m], gram[m, :m], gram[m, m] = (
                product, column_sums, column_sums, total)
            product = gram
        return product / max(total, 1e-300)

    def _hessian_diagonal(
        self, design, curvature: torch.Tensor, scale: float, features_major: bool = False
    ) -> torch.Tensor:
        """``diag H``: ``scale sum_i c_ik x_ij^2 (+ 1)`` for ``W``, ``scale sum_i c_ik`` for
        ``b``, with ``c_ik = s_i a_ik (1 - a_ik)`` (``curvature``) and ``scale = C``."""
        K, m = self.n_outputs, self.n_features
        diagonal = torch.empty(self.n_params, dtype=PARAM_DTYPE, device=self.device)
        data = self.weight_view(diagonal, features_major)
        # copied, then scaled in place (as _data_term_plus_penalty: no parameter-length
        # temporaries, and C multiplies float64 values)
        data.copy_(design.squared_transposed_product(curvature))
        data.mul_(scale)
        if self.penalize:
            data.add_(self.l2_strength)
        if self.fit_intercept:
            diagonal[K * m :] = curvature.sum(dim=0, dtype=PARAM_DTYPE) * scale
        return diagonal

    def hessian_vector_product(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``H(theta) v``, the exact Hessian of ``f`` applied to ``v`` (see hessian_operator)."""
        return self.hessian_operator(theta)[0](v)

    # ------------------------------------------------------------------ dense matrices
    def hessian_matrix(self, theta: torch.Tensor, outputs=None) -> torch.Tensor:
        """The exact Hessian of ``f`` at ``theta``, built blockwise from ``X``, in float64.

        ``H_kl = C sum_i s_i (a_ik delta_kl - a_ik a_il) x~_i x~_i^T (+ I on the W diagonal
        when penalised)`` for softmax, ``delta_kl C sum_i s_i a_ik (1 - a_ik) x~_i x~_i^T`` for
        sigmoids, with ``x~_i = [x_i, 1]`` (``[x_i]`` without intercept). ``outputs``: the
        classes ``k, l`` to keep (default all); for softmax, dropping class 0 gives the
        Hessian in the reference-class parameters ``beta_k = theta_k - theta_0`` (statsmodels'
        ``MNLogit``). Returns shape ``(K', p, K', p)``, ``p = m + fit_intercept``, each
        class's block ordered ``[w_k, b_k]``. Rows of ``X`` are visited in blocks of
        ``GRAM_BLOCK_ROWS`` on the objective's device; one dense block at a time exists.
        """
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)

        def curvature(A, Y, weights):
            if self.kind != "multinomial":
                return A * (1 - A) * weights.unsqueeze(1), None, None
            return A * weights.unsqueeze(1), A * weights.unsqueeze(1), A

        H = self._gram_blocks(theta, outputs, curvature, sign=-1.0) * self.C
        if self.penalize:
            m = self.n_features
            for k in range(H.shape[0]):
                H[k, :m, k, :m] += self.l2_strength * torch.eye(
                    m, dtype=PARAM_DTYPE, device=self.device
                )
        return H

    def hessian_in_theta_order(self, theta: torch.Tensor) -> torch.Tensor:
        """:meth:`hessian_matrix` as one ``(n_params, n_params)`` matrix in the order of
        ``theta`` (``W`` row by row, then ``b``), for solvers that factor it. Memory
        ``n_params^2``: for problems of up to a few thousand parameters."""
        H = self.hessian_matrix(theta)
        K, p, m = H.shape[0], H.shape[1], self.n_features
        order = [k * p + j for k in range(K) for j in range(m)]
        if self.fit_intercept:
            order += [k * p + m for k in range(K)]
        index = torch.tensor(order, device=H.device)
        return H.reshape(K * p, K * p).index_select(0, index).index_select(1, index)

    def score_outer_product(self, theta: torch.Tensor, outputs=None) -> torch.Tensor:
        """``sum_i s_i g_i g_i^T`` with the per-sample scores ``g_ik = (y_ik - a_ik) x~_i``.

        The "meat" of the sandwich covariance (White 1980), of the log-likelihood alone (no
        ``C``, no penalty); same shape, layout and ``outputs`` as :meth:`hessian_matrix`.
        """
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)

        def scores(A, Y, weights):
            R = Y - A
            return None, R * weights.unsqueeze(1), R

        return self._gram_blocks(theta, outputs, scores, sign=1.0)

    def _gram_blocks(self, theta, outputs, weights_fn, sign: float) -> torch.Tensor:
        """``sum_i x~_i x~_i^T (D_ik delta_kl + sign U_ik V_il)`` as a ``(K', p, K', p)`` tensor.

        ``weights_fn(A, Y, s)`` (activations, 0/1 targets, weights of a block of rows, columns
        ``outputs``) returns ``(D, U, V)`` (``D`` or ``U, V`` may be ``None``; ``U_k V_l``
        must be symmetric in ``k, l``). Each block of rows costs one ``(p x rows) (rows x p)``
        product per pair ``k <= l`` (pairs without a cross term are skipped).
        """
        K, m = self.n_outputs, self.n_features
        outputs = list(range(K)) if outputs is None else list(outputs)
        n_out, p = len(outputs), m + int(self.fit_intercept)
        W, b = self.unpack(theta)
        H = torch.zeros(n_out, p, n_out, p, dtype=PARAM_DTYPE, device=self.device)
        for start in range(0, self.n_samples, GRAM_BLOCK_ROWS):
            rows = slice(start, min(start + GRAM_BLOCK_ROWS, self.n_samples))
            X_block = self._dense_rows(rows)
            Z = X_block @ W.T if b is None else torch.addmm(b.unsqueeze(0), X_block, W.T)
            A = self._activations(Z)
            weights = (
                torch.ones(Z.shape[0], dtype=PARAM_DTYPE, device=self.device)
                if self.sample_weight is None
                else self.sample_weight[rows].to(PARAM_DTYPE)
            )
            targets = self.targets[rows]
            if self.kind == "multinomial":
                targets = F.one_hot(targets, K)
            D, U, V = weights_fn(A[:, outputs], targets[:, outputs].to(PARAM_DTYPE), weights)
            if self.fit_intercept:
                X_block = torch.cat([X_block, torch.ones_like(X_block[:, :1])], dim=1)
            for k in range(n_out):
                for j in range(k, n_out) if U is not None else (k,):
                    c = torch.zeros_like(weights) if D is None or k != j else D[:, k].clone()
                    if U is not None:
                        c.addcmul_(U[:, k], V[:, j], value=sign)
                    H[k, :, j, :].addmm_((X_block * c.unsqueeze(1)).T, X_block)
        for k in range(n_out):
            for j in range(k + 1, n_out):
                H[j, :, k, :] = H[k, :, j, :].T
        return H

    def _dense_rows(self, rows: slice) -> torch.Tensor:
        """Rows ``X[rows]`` as a dense float64 tensor on the objective's device."""
        design = self.design
        if hasattr(design, "scipy"):
            block = torch.from_numpy(design.scipy[rows].toarray())
            return block.to(device=self.device, dtype=PARAM_DTYPE)
        return design.X[rows].to(PARAM_DTYPE)

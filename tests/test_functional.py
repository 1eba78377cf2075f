"""softmaxreg.functional: the lecture's worked numbers, identities, stability and gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softmaxreg import functional as F

# LECTURE.md section 6: net inputs of 4 examples x 3 classes and the printed results.
LECTURE_Z = np.array(
    [
        [-0.30, -0.50, -0.50],
        [-0.40, -0.10, -0.50],
        [-0.30, -0.94, -0.50],
        [-0.99, -0.88, -0.50],
    ]
)
LECTURE_LABELS = np.array([0, 1, 2, 2])
LECTURE_SOFTMAX = np.array(
    [
        [0.3792, 0.3104, 0.3104],
        [0.3072, 0.4147, 0.2780],
        [0.4263, 0.2248, 0.3490],
        [0.2668, 0.2978, 0.4354],
    ]
)
LECTURE_CROSS_ENTROPY = np.array([0.9698, 0.8801, 1.0527, 0.8314])
LECTURE_MEAN_CROSS_ENTROPY = 0.9335
LECTURE_PREDICTED = np.array([0, 1, 0, 2])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


EXTREME_Z = np.array([-1e4, -1e3, -100.0, -1.0, 0.0, 1.0, 100.0, 1e3, 1e4])


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    value, reference = torch.as_tensor(value), torch.as_tensor(reference)
    scale = max(float(reference.abs().max()), 1e-300)
    return float((value - reference).abs().max()) / scale


def central_differences(function, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Numerical Jacobian d function(x) / dx by central differences, shape out.shape + x.shape."""
    x = x.detach().clone()
    out_shape = function(x).shape
    jacobian = torch.zeros(*out_shape, *x.shape, dtype=torch.float64)
    for index in np.ndindex(*x.shape):
        step = torch.zeros_like(x)
        step[index] = h
        derivative = (function(x + step) - function(x - step)) / (2 * h)
        jacobian[(..., *index)] = derivative
    return jacobian


# ----------------------------------------------------------------------------------------
# The worked numbers of the lecture, exactly as printed
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "torch"])
def test_lecture_softmax_table_to_four_decimals(as_tensor):
    z = torch.tensor(LECTURE_Z) if as_tensor else LECTURE_Z
    probabilities = np.asarray(F.softmax(z))
    np.testing.assert_array_equal(np.round(probabilities, 4), LECTURE_SOFTMAX)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-15)


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "torch"])
def test_lecture_cross_entropy_per_example_and_mean(as_tensor):
    z = torch.tensor(LECTURE_Z) if as_tensor else LECTURE_Z
    labels = torch.tensor(LECTURE_LABELS) if as_tensor else LECTURE_LABELS
    y_onehot = F.one_hot(labels, 3)
    from_probabilities = np.asarray(F.cross_entropy(F.softmax(z), y_onehot, reduction="none"))
    from_logits = np.asarray(F.cross_entropy_from_logits(z, labels, reduction="none"))
    np.testing.assert_array_equal(np.round(from_probabilities, 4), LECTURE_CROSS_ENTROPY)
    np.testing.assert_array_equal(np.round(from_logits, 4), LECTURE_CROSS_ENTROPY)
    assert round(float(F.cross_entropy(F.softmax(z), y_onehot)), 4) == LECTURE_MEAN_CROSS_ENTROPY
    assert round(float(F.cross_entropy_from_logits(z, labels)), 4) == LECTURE_MEAN_CROSS_ENTROPY
    total = float(F.cross_entropy_from_logits(z, labels, reduction="sum"))
    assert total == pytest.approx(4 * float(F.cross_entropy_from_logits(z, labels)), rel=1e-15)


def test_lecture_predicted_labels():
    np.testing.assert_array_equal(F.argmax_labels(F.softmax(LECTURE_Z)), LECTURE_PREDICTED)
    np.testing.assert_array_equal(F.argmax_labels(LECTURE_Z), LECTURE_PREDICTED)
    # the third example (true class 2) is predicted as class 0
    np.testing.assert_array_equal(F.argmax_labels(LECTURE_Z) == LECTURE_LABELS, [1, 1, 0, 1])


def test_lecture_one_hot_encoding():
    np.testing.assert_array_equal(F.one_hot(LECTURE_LABELS, 3), np.eye(3)[LECTURE_LABELS])
    np.testing.assert_array_equal(F.one_hot(LECTURE_LABELS), np.eye(3)[LECTURE_LABELS])
    np.testing.assert_array_equal(F.one_hot(np.array([0.0, 2.0]), 3), np.eye(3)[[0, 2]])


# ----------------------------------------------------------------------------------------
# Identities of the lecture
# ----------------------------------------------------------------------------------------

finite_z = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 30), elements=finite_z))
def test_hypothesis_sigma_above_half_iff_net_input_positive(z):
    # in float64, sigma(z) rounds to exactly 0.5 for |z| < ~1e-16: outside that band the
    # two rules of the lecture must agree element by element
    z = z[(np.abs(z) > 1e-15) | (z == 0)]
    labels_from_probability = F.threshold(F.sigmoid(z), 0.5)
    np.testing.assert_array_equal(labels_from_probability, (z > 0).astype(np.int64))
    np.testing.assert_array_equal(F.sigmoid(z) > 0.5, z > 0)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(1e-6, 1 - 1e-6, allow_nan=False)),
    st.data(),
)
def test_binary_cross_entropy_is_the_negative_log_likelihood(a, data):
    y = data.draw(hnp.arrays(np.int64, a.shape, elements=st.integers(0, 1)))
    nll = F.negative_log_likelihood(a, y, reduction="sum")
    bce = F.binary_cross_entropy(a, y, reduction="sum")
    assert nll == pytest.approx(bce, rel=1e-12)
    likelihood = np.prod(F.bernoulli_likelihood(a, y))
    if likelihood > 0:  # no underflow: -log of the product equals the summed loss
        assert -np.log(likelihood) == pytest.approx(bce, rel=1e-10)
    for reduction in ("none", "mean"):
        np.testing.assert_allclose(
            F.negative_log_likelihood(a, y, reduction=reduction),
            F.binary_cross_entropy(a, y, reduction=reduction),
            rtol=1e-12,
        )


def test_likelihood_of_a_large_data_set_underflows_but_the_log_likelihood_does_not():
    a = np.full(5000, 0.3)
    y = np.ones(5000)
    assert np.prod(F.bernoulli_likelihood(a, y)) == 0.0  # 0.3^5000 underflows float64
    assert F.negative_log_likelihood(a, y) == pytest.approx(-5000 * np.log(0.3), rel=1e-12)


@pytest.mark.parametrize(
    ("dtype", "low", "high", "tolerance"),
    [(np.float64, -700.0, 10.0, 1e-11), (np.float32, -87.0, 3.0, 2e-6)],
)
def test_logit_inverts_sigmoid_where_representable(dtype, low, high, tolerance):
    z = np.linspace(low, high, 20001).astype(dtype)
    recovered = F.logit(F.sigmoid(z))
    assert recovered.dtype == dtype
    error = np.abs(recovered.astype(np.float64) - z) / np.maximum(1.0, np.abs(z))
    assert error.max() <= tolerance


def test_sigmoid_inverts_logit():
    p = np.linspace(1e-12, 1 - 1e-12, 1001)
    np.testing.assert_allclose(F.sigmoid(F.logit(p)), p, rtol=1e-10)
    np.testing.assert_allclose(F.logit(np.array([0.5, 0.75])), [0.0, np.log(3.0)], rtol=1e-15)


def test_binary_cross_entropy_from_logits_equals_from_probabilities():
    z = np.linspace(-15, 15, 301)
    y = (np.arange(301) % 2).astype(np.float64)
    np.testing.assert_allclose(
        F.binary_cross_entropy_from_logits(z, y, reduction="none"),
        F.binary_cross_entropy(F.sigmoid(z), y, reduction="none"),
        rtol=1e-9,
        atol=1e-14,  # log(1 - a) from a rounded probability: the from-logits form is exact
    )


def test_softmax_rows_are_shift_invariant_and_sum_to_one():
    z = np.random.default_rng(0).normal(size=(7, 5))
    np.testing.assert_allclose(F.softmax(z + 1000.0), F.softmax(z), rtol=1e-12)
    np.testing.assert_allclose(F.softmax(z).sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(z), np.log(F.softmax(z)), rtol=1e-12)
    np.testing.assert_allclose(F.softmax(z.T, dim=0), F.softmax(z).T, rtol=1e-15)


# ----------------------------------------------------------------------------------------
# Numerical stability for |z| up to 1e4
# ----------------------------------------------------------------------------------------


def _stability_inputs(dtype, as_tensor):
    z = EXTREME_Z.astype(dtype)
    labels = np.arange(z.shape[0]) % 3
    inputs = {
        "z": z,
        "z2": np.stack([z, -z, np.zeros_like(z)], axis=1),  # 1e4 and -1e4 side by side
        "y": (np.arange(z.shape[0]) % 2).astype(dtype),
        "labels": labels,
        "y_onehot": np.eye(3, dtype=dtype)[labels],
    }
    return {k: torch.from_numpy(v) for k, v in inputs.items()} if as_tensor else inputs


STABILITY_CASES = {
    "sigmoid": lambda d: F.sigmoid(d["z"]),
    "log_sigmoid": lambda d: F.log_sigmoid(d["z"]),
    "softmax": lambda d: F.softmax(d["z2"]),
    "log_softmax": lambda d: F.log_softmax(d["z2"]),
    "binary_cross_entropy": lambda d: F.binary_cross_entropy(F.sigmoid(d["z"]), d["y"], "none"),
    "binary_cross_entropy_from_logits": lambda d: F.binary_cross_entropy_from_logits(
        d["z"], d["y"], "none"
    ),
    "cross_entropy": lambda d: F.cross_entropy(F.softmax(d["z2"]), d["y_onehot"], "none"),
    "cross_entropy_from_logits": lambda d: F.cross_entropy_from_logits(
        d["z2"], d["labels"], "none"
    ),
    "sigmoid_grad": lambda d: F.sigmoid_grad(d["z"]),
    "softmax_jacobian": lambda d: F.softmax_jacobian(d["z2"]),
    "binary_cross_entropy_grad_z": lambda d: F.binary_cross_entropy_grad_z(d["z"], d["y"]),
    "cross_entropy_grad_z": lambda d: F.cross_entropy_grad_z(d["z2"], d["y_onehot"]),
}


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(STABILITY_CASES))
def test_finite_and_silent_for_net_inputs_up_to_1e4(name, dtype, as_tensor):
    inputs = _stability_inputs(dtype, as_tensor)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = STABILITY_CASES[name](inputs)
    values = result.numpy() if as_tensor else result
    assert values.dtype == dtype
    assert np.all(np.isfinite(values)), f"{name} is not finite: {values}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_net_inputs_give_exact_limits(dtype):
    z = np.array([-1e4, 1e4], dtype=dtype)
    np.testing.assert_array_equal(F.sigmoid(z), [0.0, 1.0])
    np.testing.assert_array_equal(F.log_sigmoid(z), [-1e4, 0.0])
    # a confident wrong answer costs |z|, a confident right one costs 0
    np.testing.assert_array_equal(
        F.binary_cross_entropy_from_logits(z, np.array([1.0, 0.0], dtype=dtype), "none"),
        [1e4, 1e4],
    )
    np.testing.assert_array_equal(
        F.binary_cross_entropy_from_logits(z, np.array([0.0, 1.0], dtype=dtype), "none"),
        [0.0, 0.0],
    )
    z2 = np.array([[1e4, -1e4, 0.0]], dtype=dtype)
    np.testing.assert_array_equal(F.cross_entropy_from_logits(z2, np.array([1]), "none"), [2e4])
    np.testing.assert_array_equal(F.softmax(z2), [[1.0, 0.0, 0.0]])


# ----------------------------------------------------------------------------------------
# Agreement with torch.nn.functional
# ----------------------------------------------------------------------------------------


@pytest.fixture
def random_problem():
    generator = torch.Generator().manual_seed(7)
    z = torch.randn(40, 5, generator=generator, dtype=torch.float64) * 3
    labels = torch.randint(0, 5, (40,), generator=generator)
    y_binary = torch.randint(0, 2, (40,), generator=generator).double()
    return z, labels, y_binary


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_losses_agree_with_torch_nn_functional(random_problem, reduction):
    z, labels, y_binary = random_problem
    z1 = z[:, 0]
    a1 = torch.sigmoid(z1)
    pairs = [
        (
            F.binary_cross_entropy(a1, y_binary, reduction),
            TF.binary_cross_entropy(a1, y_binary, reduction=reduction),
        ),
        (
            F.binary_cross_entropy_from_logits(z1, y_binary, reduction),
            TF.binary_cross_entropy_with_logits(z1, y_binary, reduction=reduction),
        ),
        (
            F.cross_entropy_from_logits(z, labels, reduction),
            TF.cross_entropy(z, labels, reduction=reduction),
        ),
        (
            F.cross_entropy(torch.softmax(z, 1), F.one_hot(labels, 5).double(), reduction),
            TF.cross_entropy(z, labels, reduction=reduction),
        ),
        (
            F.negative_log_likelihood(a1, y_binary, reduction),
            TF.binary_cross_entropy(a1, y_binary, reduction=reduction),
        ),
    ]
    for ours, theirs in pairs:
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_activations_agree_with_torch_nn_functional(random_problem):
    z, labels, _ = random_problem
    torch.testing.assert_close(F.sigmoid(z), torch.sigmoid(z), rtol=0, atol=0)
    torch.testing.assert_close(F.log_sigmoid(z), TF.logsigmoid(z), rtol=0, atol=0)
    torch.testing.assert_close(F.softmax(z), TF.softmax(z, dim=-1), rtol=0, atol=0)
    torch.testing.assert_close(F.log_softmax(z), TF.log_softmax(z, dim=-1), rtol=0, atol=0)
    torch.testing.assert_close(F.one_hot(labels, 5).long(), TF.one_hot(labels, 5))
    torch.testing.assert_close(F.logit(torch.sigmoid(z)), torch.logit(torch.sigmoid(z)))


def test_binary_cross_entropy_of_certain_probabilities_is_floored_like_torch():
    a = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    expected = TF.binary_cross_entropy(a, y, reduction="none")
    torch.testing.assert_close(F.binary_cross_entropy(a, y, "none"), expected)
    torch.testing.assert_close(
        F.binary_cross_entropy(a, y, "none"), torch.tensor([100.0, 100, 0, 0]).double()
    )


# ----------------------------------------------------------------------------------------
# Gradients: against finite differences and autograd (float64, relative error <= 1e-6)
# ----------------------------------------------------------------------------------------

GRADIENT_TOLERANCE = 1e-6


def test_sigmoid_grad_is_s_times_one_minus_s():
    z = torch.linspace(-8, 8, 33, dtype=torch.float64)
    s = torch.sigmoid(z)
    torch.testing.assert_close(F.sigmoid_grad(z), s * (1 - s), rtol=1e-15, atol=0)
    numerical = central_differences(torch.sigmoid, z).diagonal()
    assert relative_error(F.sigmoid_grad(z), numerical) <= GRADIENT_TOLERANCE
    z_leaf = z.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(torch.sigmoid(z_leaf).sum(), z_leaf)
    assert relative_error(F.sigmoid_grad(z), autograd) <= GRADIENT_TOLERANCE


def test_softmax_jacobian_against_autograd_and_finite_differences():
    z = torch.tensor([[-0.30, -0.50, -0.50], [2.0, -1.0, 0.5]], dtype=torch.float64)
    jacobian = F.softmax_jacobian(z)
    assert jacobian.shape == (2, 3, 3)
    for row in range(2):
        autograd = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), z[row])
        numerical = central_differences(lambda v: torch.softmax(v, 0), z[row])
        assert relative_error(jacobian[row], autograd) <= GRADIENT_TOLERANCE
        assert relative_error(jacobian[row], numerical) <= GRADIENT_TOLERANCE
    # the slide's entries: da1/dz1 = a1 (1 - a1), da2/dz1 = -a1 a2
    a = torch.softmax(z, dim=1)
    torch.testing.assert_close(jacobian[:, 0, 0], a[:, 0] * (1 - a[:, 0]))
    torch.testing.assert_close(jacobian[:, 1, 0], -a[:, 0] * a[:, 1])


def test_binary_loss_gradient_with_respect_to_the_activation():
    a = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    for label in (0.0, 1.0):
        y = torch.full_like(a, label)
        formula = F.binary_cross_entropy_grad_a(a, y)  # (a - y) / (a - a^2)

        def loss_per_sample(v, y=y):
            return F.binary_cross_entropy(v, y, "none")

        numerical = central_differences(loss_per_sample, a).diagonal()
        a_leaf = a.clone().requires_grad_(True)
        (autograd,) = torch.autograd.grad(F.binary_cross_entropy(a_leaf, y, "sum"), a_leaf)
        assert relative_error(formula, numerical) <= GRADIENT_TOLERANCE
        assert relative_error(formula, autograd) <= GRADIENT_TOLERANCE


def test_binary_loss_gradient_with_respect_to_the_net_input_is_a_minus_y():
    z = torch.linspace(-6, 6, 25, dtype=torch.float64)
    y = (torch.arange(25) % 2).double()
    formula = F.binary_cross_entropy_grad_z(z, y)
    torch.testing.assert_close(formula, torch.sigmoid(z) - y, rtol=1e-15, atol=0)
    numerical = central_differences(
        lambda v: F.binary_cross_entropy_from_logits(v, y, "none"), z
    ).diagonal()
    z_leaf = z.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(F.binary_cross_entropy_from_logits(z_leaf, y, "sum"), z_leaf)
    assert relative_error(formula, numerical) <= GRADIENT_TOLERANCE
    assert relative_error(formula, autograd) <= GRADIENT_TOLERANCE
    # the chain rule of the slide: dL/dz = dL/da * da/dz
    chained = F.binary_cross_entropy_grad_a(torch.sigmoid(z), y) * F.sigmoid_grad(z)
    assert relative_error(chained, formula) <= 1e-12


def test_cross_entropy_gradient_with_respect_to_the_activations():
    a = torch.softmax(torch.tensor(LECTURE_Z), dim=1)
    y_onehot = F.one_hot(torch.tensor(LECTURE_LABELS), 3).double()
    formula = F.cross_entropy_grad_a(a, y_onehot)  # -y_j / a_j
    a_leaf = a.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(F.cross_entropy(a_leaf, y_onehot, "sum"), a_leaf)
    numerical = central_differences(lambda v: F.cross_entropy(v, y_onehot, "sum"), a)
    assert relative_error(formula, autograd) <= GRADIENT_TOLERANCE
    assert relative_error(formula, numerical) <= GRADIENT_TOLERANCE


def test_cross_entropy_gradient_with_respect_to_the_net_inputs_is_a_minus_y():
    z = torch.tensor(LECTURE_Z)
    labels = torch.tensor(LECTURE_LABELS)
    y_onehot = F.one_hot(labels, 3).double()
    formula = F.cross_entropy_grad_z(z, y_onehot)
    torch.testing.assert_close(formula, torch.softmax(z, 1) - y_onehot, rtol=1e-15, atol=0)
    z_leaf = z.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(F.cross_entropy_from_logits(z_leaf, labels, "sum"), z_leaf)
    numerical = central_differences(lambda v: F.cross_entropy_from_logits(v, labels, "sum"), z)
    assert relative_error(formula, autograd) <= GRADIENT_TOLERANCE
    assert relative_error(formula, numerical) <= GRADIENT_TOLERANCE
    # multivariable chain rule of the slide: dL/dz_k = sum_j dL/da_j da_j/dz_k
    a = torch.softmax(z, 1)
    chained = torch.einsum("nj,njk->nk", F.cross_entropy_grad_a(a, y_onehot), F.softmax_jacobian(z))
    assert relative_error(chained, formula) <= 1e-12


# ----------------------------------------------------------------------------------------
# NumPy in -> NumPy out, tensor in -> tensor out (device, dtype and autograd kept)
# ----------------------------------------------------------------------------------------


def _calls(make):
    z = make(np.array([-1.0, 0.5, 2.0]))
    z2 = make(np.array([[0.1, -0.2, 0.3], [1.0, 0.0, -1.0]]))
    p = make(np.array([0.2, 0.5, 0.9]))
    y = make(np.array([0.0, 1.0, 1.0]))
    labels = make(np.array([2, 0]))
    y_onehot = make(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    a2 = make(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    return {
        "sigmoid": lambda: F.sigmoid(z),
        "log_sigmoid": lambda: F.log_sigmoid(z),
        "logit": lambda: F.logit(p),
        "softmax": lambda: F.softmax(z2),
        "log_softmax": lambda: F.log_softmax(z2),
        "one_hot": lambda: F.one_hot(labels, 3),
        "bernoulli_likelihood": lambda: F.bernoulli_likelihood(p, y),
        "negative_log_likelihood": lambda: F.negative_log_likelihood(p, y),
        "binary_cross_entropy": lambda: F.binary_cross_entropy(p, y),
        "binary_cross_entropy_from_logits": lambda: F.binary_cross_entropy_from_logits(z, y),
        "cross_entropy": lambda: F.cross_entropy(a2, y_onehot),
        "cross_entropy_from_logits": lambda: F.cross_entropy_from_logits(z2, labels),
        "sigmoid_grad": lambda: F.sigmoid_grad(z),
        "softmax_jacobian": lambda: F.softmax_jacobian(z2),
        "binary_cross_entropy_grad_a": lambda: F.binary_cross_entropy_grad_a(p, y),
        "binary_cross_entropy_grad_z": lambda: F.binary_cross_entropy_grad_z(z, y),
        "cross_entropy_grad_a": lambda: F.cross_entropy_grad_a(a2, y_onehot),
        "cross_entropy_grad_z": lambda: F.cross_entropy_grad_z(z2, y_onehot),
        "threshold": lambda: F.threshold(p),
        "argmax_labels": lambda: F.argmax_labels(z2),
    }


@pytest.mark.parametrize("name", sorted(_calls(np.asarray)))
def test_numpy_in_numpy_out_and_tensor_in_tensor_out(name):
    from_numpy = _calls(np.asarray)[name]()
    from_tensor = _calls(torch.from_numpy)[name]()
    assert isinstance(from_numpy, np.ndarray)
    assert isinstance(from_tensor, torch.Tensor)
    np.testing.assert_allclose(from_numpy, from_tensor.numpy(), rtol=1e-15)


def test_float32_stays_float32_and_autograd_flows_through():
    z = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float32, requires_grad=True)
    loss = F.cross_entropy_from_logits(z, torch.tensor([2]))
    assert loss.dtype == torch.float32
    loss.backward()
    torch.testing.assert_close(
        z.grad, F.cross_entropy_grad_z(z.detach(), torch.tensor([[0.0, 0, 1]]))
    )
    assert F.sigmoid(np.zeros(2, dtype=np.float32)).dtype == np.float32
    assert F.sigmoid(np.arange(3)).dtype == np.float32  # integers become the default float


# ----------------------------------------------------------------------------------------
# Bad input: early, clear errors
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.binary_cross_entropy(np.array([0.5]), np.array([1.0]), reduction="average"),
        lambda: F.binary_cross_entropy_from_logits(np.zeros(2), np.ones(2), reduction="max"),
        lambda: F.cross_entropy(np.full((1, 2), 0.5), np.array([[1.0, 0.0]]), reduction=""),
        lambda: F.cross_entropy_from_logits(np.zeros((1, 2)), np.array([0]), reduction="total"),
        lambda: F.negative_log_likelihood(np.array([0.5]), np.array([1.0]), reduction="Mean"),
    ],
)
def test_bad_reduction_names_the_accepted_ones(call):
    with pytest.raises(ValueError, match=r"reduction must be one of \('none', 'mean', 'sum'\)"):
        call()


CLASS_LABEL_FUNCTIONS = {
    "one_hot": lambda y: F.one_hot(y, 3),
    "cross_entropy_from_logits": lambda y: F.cross_entropy_from_logits(np.zeros((2, 3)), y),
}


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "torch"])
@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0.0, 1.7], "class labels must be integer class indices, got 1.7"),
        ([np.nan, 1.0], "class labels must be integer class indices, got nan"),
        ([0.0, np.inf], "class labels must be integer class indices, got inf"),
        ([0, -1], "class indices must be >= 0, got -1"),
        ([0, 3], "class index 3 is out of range for num_classes=3 (labels must lie in [0, 3))"),
    ],
)
@pytest.mark.parametrize("name", sorted(CLASS_LABEL_FUNCTIONS))
def test_every_class_label_function_refuses_bad_labels_with_one_message(
    name, labels, message, as_tensor
):
    # issue 11: cross_entropy_from_logits(z, [0.0, 1.7]) used to read 1.7 as class 1
    y = torch.tensor(labels) if as_tensor else np.array(labels)
    with pytest.raises(ValueError) as raised:
        CLASS_LABEL_FUNCTIONS[name](y)
    assert str(raised.value) == message


def test_whole_float_labels_are_accepted_as_their_integers():
    z = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    assert F.cross_entropy_from_logits(z, np.array([2.0, 0.0])) == pytest.approx(
        F.cross_entropy_from_logits(z, np.array([2, 0]))
    )
    np.testing.assert_array_equal(F.one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])


TARGET_FUNCTIONS = {
    "bernoulli_likelihood": lambda y: F.bernoulli_likelihood(np.full(2, 0.5), y),
    "negative_log_likelihood": lambda y: F.negative_log_likelihood(np.full(2, 0.5), y),
    "binary_cross_entropy": lambda y: F.binary_cross_entropy(np.full(2, 0.5), y),
    "binary_cross_entropy_from_logits": lambda y: F.binary_cross_entropy_from_logits(
        np.zeros(2), y
    ),
    "binary_cross_entropy_grad_a": lambda y: F.binary_cross_entropy_grad_a(np.full(2, 0.5), y),
    "binary_cross_entropy_grad_z": lambda y: F.binary_cross_entropy_grad_z(np.zeros(2), y),
    "cross_entropy": lambda y: F.cross_entropy(np.full((1, 2), 0.5), y.reshape(1, 2)),
    "cross_entropy_grad_z": lambda y: F.cross_entropy_grad_z(np.zeros((1, 2)), y.reshape(1, 2)),
    "cross_entropy_grad_a": lambda y: F.cross_entropy_grad_a(np.full((1, 2), 0.5), y.reshape(1, 2)),
}


@pytest.mark.parametrize(
    ("targets", "shown"), [([0.0, 1.7], "1.7"), ([-1.0, 1.0], "-1"), ([np.nan, 0.0], "nan")]
)
@pytest.mark.parametrize("name", sorted(TARGET_FUNCTIONS))
def test_every_target_function_refuses_targets_outside_0_1(name, targets, shown):
    with pytest.raises(ValueError) as raised:
        TARGET_FUNCTIONS[name](np.array(targets))
    assert str(raised.value) == (
        f"targets must be labels 0 or 1 (or probabilities in [0, 1]), got {shown}"
    )


def test_mismatched_probabilities_and_one_hot_targets_are_refused():
    with pytest.raises(ValueError, match=r"probabilities \(2, 3\) and one-hot targets \(2, 2\)"):
        F.cross_entropy(np.full((2, 3), 1 / 3), np.eye(2))


def test_non_numeric_input_is_refused():
    with pytest.raises(TypeError, match="expected numbers"):
        F.sigmoid(np.array(["a", "b"]))


def test_python_scalars_keep_their_shape():
    assert np.shape(F.sigmoid(0.0)) == ()
    assert F.sigmoid(0.0) == 0.5
    reversed_view = np.arange(3.0)[::-1]
    np.testing.assert_allclose(F.softmax(reversed_view), F.softmax(reversed_view.copy()))

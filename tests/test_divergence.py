"""Fixed-step training that diverges stops with a warning and keeps finite, best weights.

Issue 11: ``solver='sgd'`` on unscaled features went from an objective of 139 to millions,
stopped as "converged" after 5 epochs without improvement, with no warning, and kept the
diverged weights. Every fixed-step trainer is checked: the estimator's 'sgd', 'sample-sgd'
and 'gd' with a learning rate, the sharded / distributed fit, and the lecture's loops.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from softmaxreg import LogisticRegression, nn, scratch
from softmaxreg.distributed.row_sources import ArrayRows
from softmaxreg.distributed.train import fit_sharded
from softmaxreg.solvers._common import DivergenceGuard

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unscaled_data():
    """200 rows whose features are on scales 1, 100 and 1000 (means 0, 500, 3000)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [1.0, 100.0, 1000.0] + [0.0, 500.0, 3000.0]
    return X, (X[:, 0] > 0).astype(np.int64)


def diverged_message(method: str, unit: str, at: int, loss: str) -> str:
    return (
        f"softmaxreg solver {method!r} diverged at {unit} {at} (loss per sample {loss}, from "
        "0.6931 at the start); lower learning_rate (now 0.1) or scale the features (e.g. "
        "StandardScaler). Returning the starting parameters."
    )


def only_warning(caught) -> str:
    messages = [str(item.message) for item in caught if item.category is ConvergenceWarning]
    assert len(messages) == 1, messages
    return messages[0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"solver": "sgd"}, diverged_message("sgd", "epoch", 2, "1.756e+04")),
        ({"solver": "sample-sgd"}, diverged_message("sample-sgd", "epoch", 1, "2.697e+05")),
        (
            {"solver": "gd", "learning_rate": 0.1},
            diverged_message("gd", "iteration", 1, "1.756e+04"),
        ),
    ],
)
def test_estimator_stops_a_diverging_run_with_a_warning_and_its_starting_weights(params, message):
    X, y = unscaled_data()
    model = LogisticRegression(random_state=0, max_iter=50, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    assert only_warning(caught) == message
    # nothing was better than the start (zeros): the weights are those, never NaN
    np.testing.assert_array_equal(model.coef_, np.zeros((1, 3)))
    np.testing.assert_array_equal(model.intercept_, [0.0])
    assert all(np.isfinite(model.loss_history_))
    np.testing.assert_allclose(model.predict_proba(X), 0.5)


def test_a_diverging_warm_start_keeps_the_weights_it_started_from():
    X, y = unscaled_data()
    start = LogisticRegression(solver="lbfgs").fit(X, y)
    model = LogisticRegression(solver="sgd", warm_start=True, random_state=0, max_iter=50)
    model.coef_, model.intercept_ = start.coef_.copy(), start.intercept_.copy()
    model.classes_, model.kind_ = start.classes_, start.kind_
    with pytest.warns(ConvergenceWarning, match="diverged at epoch"):
        model.fit(X, y)
    np.testing.assert_allclose(model.coef_, start.coef_, rtol=1e-15)
    np.testing.assert_allclose(model.intercept_, start.intercept_, rtol=1e-15)


def test_the_same_run_on_scaled_features_does_not_diverge():
    X, y = unscaled_data()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LogisticRegression(solver="sgd", batch_size=20, random_state=0, max_iter=50)
        model.fit(X, y)
    assert not [item for item in caught if "diverged" in str(item.message)]
    assert len(model.loss_history_) == 50
    assert model.loss_history_[-1] < model.loss_history_[0] / 2
    assert model.score(X, y) >= 0.95


def test_sharded_sgd_stops_a_diverging_run_the_same_way():
    X, y = unscaled_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit_sharded(
            ArrayRows(X, y, np.array([0, 1])), solver="sgd", random_state=0, max_iter=50
        )
    assert "softmaxreg solver 'sgd' diverged at epoch" in only_warning(caught)
    assert "lower learning_rate (now 0.1) or scale the features" in only_warning(caught)
    np.testing.assert_array_equal(model.coef_, np.zeros((1, 3)))


@pytest.mark.parametrize("autograd", [False, True], ids=["scratch", "nn"])
def test_the_lecture_loops_stop_a_diverging_run(autograd):
    X, y = unscaled_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if autograd:
            model = nn.LogisticRegressionModule(3, dtype=torch.float64)
            trace = nn.train(model, X, y, 20, 0.1, batch_size=32)
            weights = model.linear.weight.detach()
        else:
            model = scratch.LogisticRegression(3, dtype=torch.float64)
            trace = model.train(X, y, 20, 0.1, batch_size=32)
            weights = model.weights
    name = "nn.LogisticRegressionModule" if autograd else "scratch.LogisticRegression"
    assert only_warning(caught).startswith(f"softmaxreg solver '{name}' diverged at epoch 1 ")
    assert trace == []
    torch.testing.assert_close(weights, torch.zeros(1, 3, dtype=torch.float64))


def test_the_guard_returns_the_parameters_of_the_lowest_loss():
    theta = torch.zeros(2, dtype=torch.float64)
    guard = DivergenceGuard("sgd", 0.5, [theta], start_loss=2.0)
    for epoch, loss in enumerate([1.0, 0.25, 0.5, 250.0], start=1):
        theta.fill_(epoch)  # the parameters after this epoch
        if epoch < 4:
            assert not guard.diverged(epoch, loss)
    with pytest.warns(ConvergenceWarning) as caught:
        assert guard.diverged(4, 250.0)
    assert str(caught[0].message) == (
        "softmaxreg solver 'sgd' diverged at epoch 4 (loss per sample 250, from 2 at the "
        "start); lower learning_rate (now 0.5) or scale the features (e.g. StandardScaler). "
        "Returning the parameters after epoch 2 (loss 0.25)."
    )
    torch.testing.assert_close(theta, torch.full((2,), 2.0, dtype=torch.float64))
    assert guard.stopped


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), 200.1])
def test_the_guard_limit_is_non_finite_or_100_times_the_start(loss):
    theta = torch.ones(1)
    guard = DivergenceGuard("gd", 1.0, [theta], start_loss=2.0)
    theta.fill_(7.0)
    assert not guard.diverged(1, 200.0)  # 100 x max(1, 2) is still allowed (but worse)
    with pytest.warns(ConvergenceWarning, match=r"Returning the starting parameters\.$"):
        assert guard.diverged(2, loss)
    assert float(theta) == 1.0

"""The lecture's logistic regression notebook on the 2-D toy data (LECTURE.md section 8).

    python examples/toy_logistic_regression.py --out figures/

Shuffle with NumPy seed 123, first 25 rows test, standardise, then 30 epochs of full-batch
gradient descent (summed gradient, learning rate 0.1) from zero weights, once with the
manual gradients and once with autograd. Published: test accuracy 96.00%, identical costs.
Saves toy_cost.png and toy_decision_boundary.png to --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from lecture_figures import new_figure, plot_cost_trace, save_figure

from softmaxreg.recipes import toy_logistic_regression


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"), help="folder for the PNGs")
    args = parser.parse_args(argv)

    result = toy_logistic_regression()
    print("epoch | cost (manual gradients) | cost (autograd)")
    for epoch, (manual, autograd) in enumerate(
        zip(result.cost_trace, result.cost_trace_autograd, strict=True), start=1
    ):
        print(f"{epoch:5d} | {manual:23.3f} | {autograd:15.3f}")
    w1, w2 = result.weights
    print(f"weights: w1 = {w1:.4f}, w2 = {w2:.4f}; bias: b = {result.bias:.4f}")
    print(f"decision boundary: x2 = -({w1:.4f} * x1 {result.bias:+.4f}) / {w2:.4f}")
    print(f"train accuracy: {100 * result.train_accuracy:.2f}%")
    print(f"test accuracy: {100 * result.test_accuracy:.2f}% (published: 96.00%)")

    costs = {"manual gradients": result.cost_trace, "autograd": result.cost_trace_autograd}
    save_figure(
        plot_cost_trace(costs, "Toy data: logistic regression", "mean NLL"),
        args.out,
        "toy_cost.png",
    )

    figure = new_figure(10.0, 4.0)
    x1 = np.array([-2.5, 2.5])
    for axes, (name, X, y) in zip(
        figure.subplots(1, 2),
        [
            ("training set", result.X_train, result.y_train),
            ("test set", result.X_test, result.y_test),
        ],
        strict=True,
    ):
        for label, marker in ((0, "o"), (1, "s")):
            rows = y == label
            axes.scatter(X[rows, 0], X[rows, 1], marker=marker, label=f"class {label}")
        axes.plot(x1, result.decision_boundary(x1), color="black", label="z = 0")
        axes.set(
            xlim=(-2.5, 2.5),
            ylim=(-3.0, 3.0),
            xlabel="x1 (standardised)",
            ylabel="x2 (standardised)",
            title=name,
        )
        axes.legend(loc="upper left")
    save_figure(figure, args.out, "toy_decision_boundary.png")


if __name__ == "__main__":
    main()

"""The lecture's softmax regression notebook on iris (LECTURE.md section 8).

    python examples/iris_softmax_regression.py --out figures/

Features x2 and x4 (sepal width, petal width), the notebook's 80/20 split after
torch.manual_seed(123), standardised; 50 epochs of full-batch gradient descent (mean
gradient, learning rate 0.1) from zero weights, with the *correct* per-class bias gradient.
Published: 80.00% test accuracy (with the notebook's bias bug).
Saves iris_cost.png and iris_decision_regions.png to --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from lecture_figures import new_figure, plot_cost_trace, save_figure

from softmaxreg.recipes import iris_softmax_regression

SPECIES = ("setosa", "versicolor", "virginica")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"), help="folder for the PNGs")
    args = parser.parse_args(argv)

    result = iris_softmax_regression()
    for epoch in (1, 10, 20, 30, 40, 50):
        manual, autograd = result.cost_trace[epoch - 1], result.cost_trace_autograd[epoch - 1]
        print(f"epoch {epoch:3d} | cost {manual:.4f} (manual) {autograd:.4f} (autograd)")
    print("weights W (3 x 2):")
    print(np.array2string(result.weights, precision=4))
    print("bias b (one per class):", np.array2string(result.bias, precision=4))
    print(f"train accuracy: {100 * result.train_accuracy:.2f}%")
    print(f"test accuracy: {100 * result.test_accuracy:.2f}% (published: 80.00%)")

    costs = {"manual gradients": result.cost_trace, "autograd": result.cost_trace_autograd}
    figure = plot_cost_trace(costs, "Iris: softmax regression", "mean cross-entropy")
    save_figure(figure, args.out, "iris_cost.png")

    # predicted class over the standardised feature plane, with the training points on top
    grid_1, grid_2 = np.meshgrid(np.linspace(-3, 3, 301), np.linspace(-3, 3, 301))
    grid = np.column_stack([grid_1.ravel(), grid_2.ravel()])
    regions = (grid @ result.weights.T + result.bias).argmax(axis=1).reshape(grid_1.shape)
    figure = new_figure()
    axes = figure.add_subplot()
    axes.contourf(
        grid_1, grid_2, regions, levels=[-0.5, 0.5, 1.5, 2.5], colors=["C0", "C1", "C2"], alpha=0.2
    )
    for label, (name, marker) in enumerate(zip(SPECIES, "o^s", strict=True)):
        rows = result.y_train == label
        axes.scatter(result.X_train[rows, 0], result.X_train[rows, 1], marker=marker, label=name)
    axes.set(
        xlabel="sepal width (standardised)",
        ylabel="petal width (standardised)",
        title="Iris: decision regions (training set)",
    )
    axes.legend(loc="upper left")
    save_figure(figure, args.out, "iris_decision_regions.png")


if __name__ == "__main__":
    main()

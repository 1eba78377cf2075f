"""The lecture's softmax regression notebook on MNIST (LECTURE.md section 8), as published.

    python examples/mnist_softmax_regression.py --out figures/ [--device cuda]

Pixels / 255, zero weights, 25 epochs of minibatch SGD (batch 256, learning rate 0.1,
shuffled every epoch from seed 123), cross-entropy on the logits.
Published: test accuracy 92.16%, first four test predictions [7, 2, 1, 0].
Saves mnist_cost.png and mnist_weights.png (one 28 x 28 template per digit) to --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lecture_figures import new_figure, plot_cost_trace, save_figure

from softmaxreg.recipes import mnist_softmax_regression


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"), help="folder for the PNGs")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    args = parser.parse_args(argv)

    result = mnist_softmax_regression(device=args.device)
    for epoch, cost in enumerate(result.cost_trace, start=1):
        print(f"epoch {epoch:3d}/25 | train cost {cost:.4f}")
    print(f"training time: {result.training_seconds:.1f} s")
    print(f"train accuracy: {100 * result.train_accuracy:.2f}%")
    print(f"test accuracy: {100 * result.test_accuracy:.2f}% (published: 92.16%)")
    first_four = [int(label) for label in result.test_predictions[:4]]
    print(f"first four test predictions: {first_four} (published: [7, 2, 1, 0])")

    figure = plot_cost_trace(
        {"SGD": result.cost_trace}, "MNIST: softmax regression", "mean cross-entropy"
    )
    save_figure(figure, args.out, "mnist_cost.png")

    figure = new_figure(10.0, 4.4)
    limit = abs(result.weights).max()
    for digit, axes in enumerate(figure.subplots(2, 5).ravel()):
        axes.imshow(result.weights[digit].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes.set_title(f"w for digit {digit}")
        axes.axis("off")
    save_figure(figure, args.out, "mnist_weights.png")


if __name__ == "__main__":
    main()

"""MNIST: softmaxreg against scikit-learn and the lecture's PyTorch loop (fit time, test
accuracy, objective, memory). The benchmark lives in the package so that an installed
softmaxreg runs it too (``softmaxreg bench``); see ``softmaxreg.bench.mnist_comparison``.

    python benchmarks/bench_mnist.py [--json results.json] [--only NAME ...] [--train-rows N]
"""

import sys

from softmaxreg.bench.mnist_comparison import main

if __name__ == "__main__":
    sys.exit(main())

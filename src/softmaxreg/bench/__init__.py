"""Benchmarks a user can run from the installed package (``softmaxreg bench``).

``mnist_comparison``: softmaxreg against scikit-learn's ``LogisticRegression`` and the
lecture's PyTorch training loop on MNIST: fit seconds, test accuracy, final objective and
memory, every contender in its own process. ``memory`` (resident size of this process) and
``synthetic`` (seeded data of any size, block by block) serve the scripts in benchmarks/ too.
"""

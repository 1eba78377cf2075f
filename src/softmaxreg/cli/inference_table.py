"""``softmaxreg evaluate ... --inference``: the coefficient table of a model on a data set."""

from __future__ import annotations

from softmaxreg.cli.console import console


def print_inference(model, X, y) -> None:
    """Print ``softmaxreg.inference(model, X, y).summary()`` (one table per one-vs-rest class).

    Refusals (separation, a singular or too large Hessian, a penalised multinomial model)
    propagate as the library's one-line errors.
    """
    import warnings

    from softmaxreg.inference import inference

    if getattr(model, "solver", None) in ("sgd", "sample-sgd"):
        warnings.warn(
            f"this model was fitted by {model.solver}, which stops after its epochs, not at the "
            "optimum the standard errors and tests assume; refit with --solver lbfgs (or "
            "newton-cg) for exact inference",
            UserWarning,
            stacklevel=2,
        )
    results = inference(model, X, y)
    tables = results.items() if isinstance(results, dict) else [(None, results)]
    for label, result in tables:
        if label is not None:
            console.print(f"one-vs-rest model of class {label}:", markup=False, highlight=False)
        console.print(str(result.summary()), markup=False, highlight=False, soft_wrap=True)

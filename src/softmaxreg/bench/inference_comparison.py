"""Inference suite: fit + standard errors, p-values, intervals and likelihood statistics,
softmaxreg against statsmodels' ``MNLogit``.

Data: ``softmaxreg.bench.synthetic`` (seed 0), 50 features, 5 classes, 1,000,000 rows by
default (``--rows N`` for a quick look), as float64 for both. Each contender runs in its own
process and computes the same quantities: params, bse, pvalues, conf_int, llf, llnull,
prsquared, aic, bic, llr_pvalue.

  statsmodels-mnlogit  ``MNLogit(y, add_constant(X)).fit(method="newton")`` (its default
                       optimiser), then the quantities above (llnull fits the null model)
  softmaxreg           ``LogisticRegression(C=np.inf, tol=1e-6, dtype="float64")`` fit,
                       then ``softmaxreg.inference`` (the Hessian built once, blockwise)

    softmaxreg bench --suite inference [--rows N] [--json results.json]
    python -m softmaxreg.bench.inference_comparison [--rows N]

Printed: seconds per contender, the speed ratio (statsmodels / softmaxreg) and the largest
relative differences of params, bse and llf between the two.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from softmaxreg.bench.child import print_and_write, run_child
from softmaxreg.errors import SoftmaxregError

CONTENDERS = ("statsmodels-mnlogit", "softmaxreg")
FULL_ROWS, N_FEATURES, N_CLASSES = 1_000_000, 50, 5
QUICK_ROWS = 3_000
MIN_ROWS = 1_000  # fewer rows of 50 features may separate the classes (no MLE)


def load_data(rows: int):
    """The seeded synthetic set as float64 ``(X, y)``."""
    from softmaxreg.bench.synthetic import synthetic_arrays

    X, y = synthetic_arrays(rows, N_FEATURES, N_CLASSES, seed=0)
    return X.astype(np.float64), y


def run_statsmodels(X, y) -> dict:
    import statsmodels.api as sm

    start = time.perf_counter()
    result = sm.MNLogit(y, sm.add_constant(X, prepend=True)).fit(method="newton", disp=0)
    values = _quantities(result, np.asarray(result.conf_int()).reshape(-1, 2))
    values["seconds"] = time.perf_counter() - start
    # statsmodels' params are (k, J-1): parameters down, equations across
    values["params"] = np.asarray(result.params).T.ravel().tolist()
    values["bse"] = np.asarray(result.bse).T.ravel().tolist()
    return values


def run_softmaxreg(X, y) -> dict:
    from softmaxreg import LogisticRegression
    from softmaxreg.inference import inference

    start = time.perf_counter()
    model = LogisticRegression(C=np.inf, tol=1e-6, max_iter=1000, dtype="float64").fit(X, y)
    result = inference(model, X, y)
    values = _quantities(result, result.conf_int().to_numpy())
    values["seconds"] = time.perf_counter() - start
    values["params"] = np.asarray(result.params).T.ravel().tolist()
    values["bse"] = np.asarray(result.bse).T.ravel().tolist()
    return values


def _quantities(result, interval: np.ndarray) -> dict:
    """Every statistic the suite asks of a results object (forcing lazy ones)."""
    return {
        "pvalues_min": float(np.min(result.pvalues)),
        "conf_int_width_max": float(np.max(interval[:, 1] - interval[:, 0])),
        **{
            name: float(getattr(result, name))
            for name in ("llf", "llnull", "prsquared", "aic", "bic", "llr_pvalue")
        },
    }


def check_available() -> None:
    """Refuse to start without statsmodels (the ``bench`` extra)."""
    import importlib.util

    if importlib.util.find_spec("statsmodels") is None:
        raise SoftmaxregError(
            "the inference suite compares with statsmodels, which is not installed: "
            "pip install 'softmaxreg[bench]'"
        )


def run_one(name: str, rows: int) -> dict:
    """Load the data, then fit and infer with one contender in this process."""
    X, y = load_data(rows)
    if name == "statsmodels-mnlogit":
        return run_statsmodels(X, y)
    if name == "softmaxreg":
        return run_softmaxreg(X, y)
    raise ValueError(f"unknown contender {name!r}; choose from {CONTENDERS}")


def run_in_subprocess(name: str, rows: int) -> dict:
    """One contender in a fresh interpreter (``python -m`` this module)."""
    return run_child(__spec__.name, name, ["--rows", str(rows)])


def run_benchmark(rows: int = FULL_ROWS, on_start=None, runner=None) -> dict:
    """Both contenders, each in its own process (``runner(name, rows)``, default
    :func:`run_in_subprocess`); the JSON-ready payload with the ratio and the differences."""
    if rows < MIN_ROWS:
        raise ValueError(f"rows must be at least {MIN_ROWS}, got {rows}")
    check_available()
    results = {}
    for name in CONTENDERS:
        if on_start is not None:
            on_start(name)
        results[name] = (runner or run_in_subprocess)(name, rows)
    theirs, ours = results["statsmodels-mnlogit"], results["softmaxreg"]
    differences = {
        key: float(np.max(np.abs(np.subtract(ours[key], theirs[key])) / np.abs(theirs[key])))
        for key in ("bse", "llf", "llnull", "aic")
    }
    # parameters: in units of their standard error (a relative difference of a coefficient
    # near 0 says little)
    differences["params_in_bse"] = float(
        np.max(np.abs(np.subtract(ours["params"], theirs["params"])) / np.asarray(theirs["bse"]))
    )
    return {
        "rows": rows,
        "features": N_FEATURES,
        "classes": N_CLASSES,
        "results": results,
        "speedup_softmaxreg_vs_statsmodels": theirs["seconds"] / ours["seconds"],
        "max_rel_diff": differences,
    }


def format_table(payload: dict) -> str:
    """Seconds and statistics per contender, then the ratio and the differences."""
    lines = [
        f"{payload['rows']} rows x {payload['features']} features, "
        f"{payload['classes']} classes (fit + inference)"
    ]
    header = f"{'contender':<22}{'seconds':>10}{'llf':>18}{'pseudo R2':>11}{'AIC':>18}"
    lines += [header, "-" * len(header)]
    for name, r in payload["results"].items():
        lines.append(
            f"{name:<22}{r['seconds']:>10.2f}{r['llf']:>18.6f}{r['prsquared']:>11.6f}"
            f"{r['aic']:>18.6f}"
        )
    lines.append("")
    lines.append(
        f"speedup softmaxreg vs statsmodels: {payload['speedup_softmaxreg_vs_statsmodels']:.2f}x"
    )
    lines += [
        f"max relative difference of {key}: {value:.2e}"
        for key, value in payload["max_rel_diff"].items()
        if key != "params_in_bse"
    ]
    lines.append(
        "max difference of params, in standard errors: "
        f"{payload['max_rel_diff']['params_in_bse']:.2e}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m softmaxreg.bench.inference_comparison`` (and ``--run-one`` in a child)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS, help="rows of synthetic data")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--run-one", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        args.result.write_text(json.dumps(run_one(args.run_one, args.rows)))
        return 0
    payload = run_benchmark(
        args.rows, on_start=lambda name: print(f"running {name} ...", file=sys.stderr, flush=True)
    )
    return print_and_write(format_table(payload), payload, args.json)


if __name__ == "__main__":
    sys.exit(main())

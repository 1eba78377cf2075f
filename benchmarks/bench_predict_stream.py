"""Streaming prediction in bounded memory: ``softmaxreg predict DIR big.npy --out preds.csv``.

Writes an NPY file of ``--rows`` rows x 784 pixel features (uint8, like raw MNIST; 5 million
rows = 3.9 GB) in bounded memory, trains a small MNIST-shaped model, then runs the real
command in a child process and reports its peak resident memory (ru_maxrss of the child),
rows per second and the output size. Target: peak memory under 600 MB for 5 million rows.

    python benchmarks/bench_predict_stream.py --rows 5000000 --workdir /tmp/stream-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FEATURES = 784
WRITE_BLOCK = 100_000


def write_big_npy(path: Path, rows: int, seed: int = 0) -> None:
    """An (rows, 784) uint8 NPY written block by block with plain file writes.

    (Writing through a memory map would grow this process to the file's size, and a child
    forked afterwards reports that size as its own peak.)
    """
    generator = np.random.default_rng(seed)
    header = {"descr": np.dtype(np.uint8).str, "fortran_order": False, "shape": (rows, FEATURES)}
    with path.open("wb") as handle:
        np.lib.format.write_array_header_2_0(handle, header)
        for start in range(0, rows, WRITE_BLOCK):
            count = min(rows, start + WRITE_BLOCK) - start
            handle.write(generator.integers(0, 256, size=(count, FEATURES), dtype=np.uint8).data)


TRAIN_SMALL_MODEL = """
import sys, numpy as np
from softmaxreg import LogisticRegression, io
generator = np.random.default_rng(1)
X = generator.integers(0, 256, size=(2000, 784)).astype(np.float64) / 255
model = LogisticRegression(max_iter=50, tol=1e-3).fit(X, generator.integers(0, 10, size=2000))
io.save(model, sys.argv[1], preprocessing={"shift": 0.0, "scale": 1 / 255})
"""


def peak_rss_of(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (seconds, its own peak resident memory in MB).

    This process stays small (NumPy only) so the child's peak is the child's alone.
    """
    started = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--chunk-rows", type=int, default=4096)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/softmaxreg-stream-bench"))
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    data, model, out = (args.workdir / name for name in ("big.npy", "model.safetensors", "p.csv"))
    try:
        started = time.perf_counter()
        write_big_npy(data, args.rows)
        print(
            f"wrote {data} ({data.stat().st_size / 1e9:.2f} GB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        subprocess.run([sys.executable, "-c", TRAIN_SMALL_MODEL, str(model)], check=True)
        command = [
            sys.executable,
            "-m",
            "softmaxreg",
            "predict",
            str(model),
            str(data),
            "--out",
            str(out),
            "--chunk-rows",
            str(args.chunk_rows),
        ]
        seconds, peak_mb = peak_rss_of(command)
        with out.open() as handle:
            lines = sum(1 for _ in handle) - 1
        figures = {
            "rows": args.rows,
            "rows_written": lines,
            "seconds": round(seconds, 1),
            "rows_per_second": round(args.rows / seconds),
            "peak_rss_mb": round(peak_mb),
            "output_gb": round(out.stat().st_size / 1e9, 2),
            "target_peak_rss_mb": 600,
        }
        print(json.dumps(figures, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        if lines != args.rows:
            raise SystemExit(f"expected {args.rows} predictions, found {lines}")
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Load test of ``softmaxreg serve``: a real server, a bounded load from a second process.

    python benchmarks/bench_serve.py --duration 30 --connections 64 [--model DIR] [--workers 1]

1. without ``--model``: fits an MNIST-shaped model (784 features, 10 classes) on seeded
   random data and saves it in a temporary folder (serving speed does not depend on accuracy);
2. starts the server in a child process on a free loopback port
   (``softmaxreg.serve.serve_in_background``);
3. a second process (this script with ``--client``) keeps ``--connections`` requests in
   flight with an httpx async client for ``--duration`` seconds per phase, first single-row
   then ``--batch-rows``-row ``POST /predict`` requests (features 0..255, seeded);
4. prints one JSON line per phase: requests, errors (non-200 answers and transport
   failures), requests/s, rows/s, p50 / p99 latency in ms; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from softmaxreg.serve import serve_in_background


def fit_mnist_shaped_model(folder: Path, seed: int = 0) -> Path:
    """A softmax regression on seeded random 784-pixel rows (labels from a random W)."""
    from softmaxreg import LogisticRegression, preprocessing, save

    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(2000, 784)).astype(np.float64)
    y = np.argmax(X @ rng.normal(size=(784, 10)), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=20).fit(X / 255.0, y)
    path = folder / "model.safetensors"
    save(model, path, preprocessing=preprocessing.affine(0.0, 1.0 / 255.0))
    return path


async def load_phase(url: str, rows: int, connections: int, duration: float, seed: int) -> dict:
    """Keep ``connections`` requests of ``rows`` rows in flight for ``duration`` seconds."""
    import httpx

    rng = np.random.default_rng(seed)
    body = json.dumps({"instances": rng.integers(0, 256, size=(rows, 784)).tolist()}).encode()
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    failures = {"http": 0, "transport": 0}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await client.post("/predict", content=body, headers=headers)  # warm-up
        stop = time.monotonic() + duration

        async def worker() -> None:
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    response = await client.post("/predict", content=body, headers=headers)
                    await response.aread()
                except httpx.HTTPError:
                    failures["transport"] += 1
                    continue
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200 or len(response.json()["predictions"]) != rows:
                    failures["http"] += 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - began
    done = np.asarray(latencies) * 1000.0
    return {
        "rows_per_request": rows,
        "connections": connections,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "errors": failures["http"] + failures["transport"],
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "rows_per_s": round(len(latencies) * rows / elapsed, 1),
        "p50_ms": round(float(np.percentile(done, 50)), 2) if done.size else None,
        "p99_ms": round(float(np.percentile(done, 99)), 2) if done.size else None,
        "body_bytes": len(body),
    }


def client_main(args: argparse.Namespace) -> None:
    for rows in (1, args.batch_rows):
        result = asyncio.run(load_phase(args.client, rows, args.connections, args.duration, 0))
        print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch-rows", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--model", help="a run folder or model file (default: fit one)")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the load process's server URL
    args = parser.parse_args(argv)
    if args.client:
        client_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="softmaxreg-bench-serve-") as folder:
        model = Path(args.model) if args.model else fit_mnist_shaped_model(Path(folder))
        with serve_in_background(model, workers=args.workers, startup_timeout=120) as url:
            command = [sys.executable, __file__, "--client", url]
            command += ["--duration", str(args.duration), "--connections", str(args.connections)]
            command += ["--batch-rows", str(args.batch_rows)]
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()

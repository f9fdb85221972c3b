"""Why the text embedder pads every sentence to `max_tokens`: concurrent text requests through
Triton (gRPC, pytriton's CPU server serving the python-backend variant) when they share one token
length vs when their lengths differ. Triton's dynamic batcher merges only requests of equal
shape. Median wall time of --repeats rounds per case.

    python bench/bench_triton_shapes.py [--repeats 5]

Needs `.venv-triton` (make triton-up).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from app.config import ServingSettings
from app.deploy.triton_repository import write_python_backend_variant
from app.deploy.triton_server import TritonProcess, triton_available
from app.inference.triton import TritonBackend
from app.model_card import load_model_card

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = ROOT / "model_repository"


def sentence(length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One tokenised sentence of `length` tokens (ids of the trained vocabulary's range)."""
    rng = np.random.default_rng(seed)
    return rng.integers(4, 300, (1, length)), np.ones((1, length), dtype=np.int64)


async def rounds(backend: TritonBackend, lengths: list[int], repeats: int) -> float:
    times = []
    for round_ in range(repeats + 1):  # the first is a warm-up
        requests = [sentence(length, seed) for seed, length in enumerate(lengths)]
        started = time.perf_counter()
        calls = (backend.encode_sentences(*r, f"r{round_}-{i}") for i, r in enumerate(requests))
        await asyncio.gather(*calls)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


async def measure(url: str, repeats: int) -> None:
    card = load_model_card(REPOSITORY)
    settings = ServingSettings(
        backend="triton", triton_url=url, triton_protocol="grpc", model_repository=REPOSITORY
    )
    backend = TritonBackend(settings, card)
    await backend.start()
    try:
        full = card.text.max_tokens
        for concurrent in (1, 4, 8):
            one_length = await rounds(backend, [full] * concurrent, repeats)
            mixed = await rounds(backend, [6 + 6 * (i % 2) for i in range(concurrent)], repeats)
            print(
                f"{concurrent} concurrent text requests over gRPC: all {full} tokens "
                f"{one_length:7.1f} ms | lengths 6 and 12 mixed {mixed:7.1f} ms"
            )
    finally:
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    reason = triton_available()
    if reason:
        raise SystemExit(f"no Triton here: {reason}")
    with tempfile.TemporaryDirectory(prefix="bench_triton_shapes_") as tmp:
        repo = write_python_backend_variant(REPOSITORY, Path(tmp) / "repo")
        with TritonProcess(repo, workdir=Path(tmp) / "triton") as triton:
            asyncio.run(measure(triton.grpc_url, args.repeats))


if __name__ == "__main__":
    main()

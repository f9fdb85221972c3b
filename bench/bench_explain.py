"""What explain=true costs: the video encoder on one study (batch 1, what /v1/diagnose always
runs) against the explanation's extra work (the study re-encoded with each phase window held
still, one batch, plus the occlusion arithmetic of every clip), interleaved over --repeats
runs on the gateway's onnxruntime session. Prints medians and their ratio.

    python bench/bench_explain.py [--repo model_repository] [--repeats 21]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.dicom.ingest import load_study
from app.inference.embedded import session_options
from app.model_card import load_model_card
from app.preprocess.pipeline import preprocess_study
from app.synth.study import synthesize_study
from app.zeroshot.explain import PHASE_WINDOWS, hold_still, occlusion, window_frames
from app.zeroshot.scoring import normalize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    card = load_model_card(args.repo)
    model = args.repo / "cmr_video_encoder" / "1" / "model.onnx"
    session = ort.InferenceSession(
        str(model), session_options(threads=0), providers=["CPUExecutionProvider"]
    )
    with tempfile.TemporaryDirectory() as out:
        study = synthesize_study("site_a", 3, 0, "hypertrophic_cardiomyopathy")
        model_input = preprocess_study(load_study(study.write(Path(out))), card.input_spec)
    sax, lax = model_input.sax.astype(np.float32), model_input.lax.astype(np.float32)
    present = model_input.lax_present.astype(np.float32)
    feeds = {"sax": sax[None], "lax": lax[None], "lax_present": present[None]}
    conditions = normalize(np.random.default_rng(0).normal(size=(6, card.embed_dim)))
    encode_ms, explain_ms = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        study_embedding, clips = session.run(None, feeds)
        encode_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        held = [window_frames(sax.shape[1], w) for w in PHASE_WINDOWS.values()]
        windows, _ = session.run(
            None,
            {
                "sax": np.stack([hold_still(sax, f) for f in held]),
                "lax": np.stack([hold_still(lax, f) for f in held]),
                "lax_present": np.repeat(present[None], len(held), 0),
            },
        )
        clip_present = np.r_[np.ones(sax.shape[0], dtype=bool), present > 0]
        occlusion(study_embedding[0], clips[0], clip_present, windows, conditions, conditions)
        explain_ms.append((time.perf_counter() - started) * 1000)
    encode, explain = statistics.median(encode_ms), statistics.median(explain_ms)
    print(f"encode (batch 1)           median {encode:7.1f} ms")
    print(f"explain=true adds          median {explain:7.1f} ms  ({explain / encode:.2f}x encode)")


if __name__ == "__main__":
    main()

"""The one async protocol every encoder backend implements, and what it returns.

The gateway never knows which backend it talks to: `embedded` runs the ONNX files of
`model_repository/` in-process with onnxruntime, `triton` sends the same tensors to a Triton
server serving the same files. Tensor names, dims and dtypes are those of the model
repository's `config.pbtxt` files (see `model_repository/README.md`).
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

VIDEO_MODEL = "cmr_video_encoder"
TEXT_MODEL = "cmr_text_encoder"


@dataclass(frozen=True)
class VideoEmbeddings:
    """Unit study embeddings (B, D) and unit per-clip embeddings (B, n_clips, D), float32.
    Clips are the SAX slices base -> apex, then the long-axis views of the input spec."""

    study: np.ndarray
    clips: np.ndarray


@dataclass(frozen=True)
class VideoBatch:
    """Preprocessed studies stacked on a batch axis, float32: sax (B, S, T, H, W),
    lax (B, V, T, H, W), lax_present (B, V) with 1.0 where the view exists."""

    sax: np.ndarray
    lax: np.ndarray
    lax_present: np.ndarray

    @property
    def size(self) -> int:
        return int(self.sax.shape[0])


class EncoderBackend(Protocol):
    """Runs the two encoders. Every method may raise BackendUnavailableError,
    BackendTimeoutError or BackendError (app.errors); none blocks the event loop."""

    name: str

    async def start(self) -> None:
        """Open sessions or connections; called once in the application's lifespan."""

    async def close(self) -> None:
        """Release sessions or connections; idempotent."""

    async def ready(self) -> None:
        """Return if both encoders are loaded and serve the expected version; raise otherwise."""

    async def encode_video(self, batch: VideoBatch, request_id: str) -> VideoEmbeddings:
        """Unit embeddings of a batch of preprocessed studies."""

    async def encode_sentences(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, request_id: str
    ) -> np.ndarray:
        """Sentence embeddings (B, D) float32, not normalised, of int64 token ids and attention
        mask (B, L); callers average an impression's sentences and then normalise."""

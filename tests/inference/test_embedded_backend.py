"""The embedded backend's onnxruntime sessions, as the gateway configures them."""

import asyncio
from pathlib import Path

from app.inference.embedded import ALLOW_SPINNING, EmbeddedBackend
from app.model_card import load_model_card

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


def test_sessions_do_not_spin_after_a_run() -> None:
    backend = EmbeddedBackend(REPOSITORY, load_model_card(REPOSITORY))
    asyncio.run(backend.start())
    sessions = [backend._video, backend._text]
    for session in sessions:
        assert session is not None
        assert session.get_session_options().get_session_config_entry(ALLOW_SPINNING) == "0"

"""The text-geometry term: zero when the head keeps the tower's neighbourhoods, positive when
it scrambles them, and descending it trains the head alone."""

import pytest
import torch

from app.model.pretrained import read_tower_files, tower_state_dict
from app.model.text import TextConfig, TextEncoder
from app.text.tokenizer import parse_tokenizer
from app.training.text_geometry import TextGeometry, vocabulary_words

SENTENCES = [
    "The left ventricle is dilated.",
    "Severely reduced ejection fraction.",
    "Asymmetric septal hypertrophy.",
    "No pericardial effusion.",
    "Normal biventricular size and function.",
]


@pytest.fixture(scope="module")
def tower():
    files = read_tower_files()
    return tower_state_dict(files), parse_tokenizer(files.tokenizer_json.decode("utf-8"))


def _encoder(state: dict, embed_dim: int) -> TextEncoder:
    encoder = TextEncoder(TextConfig(embed_dim=embed_dim))
    encoder.load_tower(state)
    return encoder


def _geometry(encoder: TextEncoder, tokenizer) -> TextGeometry:
    return TextGeometry(encoder, tokenizer, SENTENCES, 40, 32, 0.05, seed=0)


def test_vocabulary_words_are_whole_words_and_stable(tower):
    _, tokenizer = tower
    words = vocabulary_words(tokenizer, 50, seed=3)
    assert len(words) == 50 == len(set(words))
    assert all(w.isalpha() and len(w) >= 4 and not w.startswith("##") for w in words)
    assert words == vocabulary_words(tokenizer, 50, seed=3) != vocabulary_words(tokenizer, 50, 4)


def test_an_isometric_head_costs_nothing_and_a_scrambling_one_does(tower):
    state, tokenizer = tower
    encoder = _encoder(state, embed_dim=384)
    with torch.no_grad():
        encoder.head.linear.weight.copy_(torch.eye(384))
        encoder.head.linear.bias.zero_()
    geometry = _geometry(encoder, tokenizer)
    assert len(geometry) == len(SENTENCES) + 40
    cpu = torch.device("cpu")
    same = geometry.loss(encoder, 32, torch.Generator().manual_seed(0), cpu)
    assert same.item() == pytest.approx(0.0, abs=1e-5)
    with torch.no_grad():
        encoder.head.linear.weight.copy_(
            torch.randn(384, 384, generator=torch.Generator().manual_seed(1))
        )
    assert geometry.loss(encoder, 32, torch.Generator().manual_seed(0), cpu).item() > 0.1


def test_descending_the_term_moves_only_the_head_towards_the_towers_geometry(tower):
    state, tokenizer = tower
    encoder = _encoder(state, embed_dim=16)
    geometry = _geometry(encoder, tokenizer)
    optimizer = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=0.01)
    cpu = torch.device("cpu")
    losses = []
    for step in range(60):
        loss = geometry.loss(encoder, 32, torch.Generator().manual_seed(step), cpu)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10])
    for name, tensor in state.items():  # the locked tower never moved
        assert torch.equal(encoder.tower.state_dict()[name], tensor), name

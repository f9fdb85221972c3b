"""Text encoder: shapes, padding never matters, sentence pooling, ONNX export matches torch."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from app.model.text import TextConfig, TextEncoder

torch.set_num_threads(1)
CFG = TextConfig(vocab_size=300, width=32, layers=2, heads=4, max_tokens=24, embed_dim=16)


@pytest.fixture(scope="module")
def model() -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(CFG).eval()


def _batch(lengths: list[int], length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids (B, length) with [CLS]=2 first and mask 1 on the first `lengths[b]` tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, CFG.vocab_size, (len(lengths), length), generator=generator)
    ids[:, 0] = 2
    mask = (torch.arange(length)[None] < torch.tensor(lengths)[:, None]).long()  # (B, L)
    return ids * mask, mask  # padding is [PAD]=0


def test_config_rejects_bad_heads() -> None:
    with pytest.raises(ValueError, match="divisible"):
        TextConfig(width=30, heads=4)
    assert TextConfig().vocab_size >= 4096  # covers what the default tokenizer can learn


def test_forward_shape(model: TextEncoder) -> None:
    ids, mask = _batch([5, 9, 2], 9)
    with torch.no_grad():
        out = model(ids, mask)
    assert out.shape == (3, CFG.embed_dim) and torch.isfinite(out).all()


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_is_ignored(pooling: str) -> None:
    torch.manual_seed(0)
    encoder = TextEncoder(replace(CFG, pooling=pooling)).eval()
    ids, mask = _batch([6, 4], 6)
    longer_ids = torch.cat([ids, torch.randint(4, CFG.vocab_size, (2, 10))], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(2, 10, dtype=torch.long)], dim=1)
    with torch.no_grad():
        short = encoder(ids, mask)
        padded = encoder(longer_ids, longer_mask)  # padding ids deliberately not [PAD]
        alone = encoder(ids[1:, :4], mask[1:, :4])
    torch.testing.assert_close(padded, short, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, short[1:], atol=1e-5, rtol=1e-5)


def test_training_mode_matches_eval_without_dropout(model: TextEncoder) -> None:
    # Without grad, attention may run another kernel; with dropout 0 the results must agree.
    ids, mask = _batch([7, 3], 7)
    with torch.no_grad():
        fast = model(ids, mask)
    model.train()
    try:
        slow = model(ids, mask)
    finally:
        model.eval()
    torch.testing.assert_close(slow.detach(), fast, atol=1e-5, rtol=1e-5)


def test_all_padding_row_is_finite(model: TextEncoder) -> None:
    ids = torch.zeros(2, 5, dtype=torch.long)
    mask = torch.zeros(2, 5, dtype=torch.long)
    with torch.no_grad():
        assert torch.isfinite(model(ids, mask)).all()


def test_sentence_pooling_ignores_absent_sentences(model: TextEncoder) -> None:
    ids, mask = _batch([5, 8, 3], 8, seed=1)  # three sentences of one impression
    sentence_ids = torch.zeros(2, 4, 8, dtype=torch.long)
    sentence_token_mask = torch.zeros(2, 4, 8, dtype=torch.long)
    sentence_ids[0, :3], sentence_token_mask[0, :3] = ids, mask
    sentence_ids[1, :1], sentence_token_mask[1, :1] = ids[:1], mask[:1]
    sentence_ids[1, 3] = torch.randint(4, CFG.vocab_size, (8,))  # junk in an absent slot
    sentence_mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    with torch.no_grad():
        pooled = model.encode_sentences(sentence_ids, sentence_token_mask, sentence_mask)
        each = model(ids, mask)
    assert pooled.shape == (2, CFG.embed_dim)
    torch.testing.assert_close(pooled[0], each.mean(dim=0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled[1], each[0], atol=1e-5, rtol=1e-5)


def test_gradients_reach_embeddings() -> None:
    torch.manual_seed(0)
    encoder = TextEncoder(CFG)
    ids, mask = _batch([4, 6], 6)
    encoder(ids, mask).square().sum().backward()
    grad = encoder.token_embedding.weight.grad
    assert grad is not None and grad[ids[mask > 0]].abs().sum() > 0
    assert grad[0].abs().sum() == 0  # [PAD] stands only at padded positions


def _export(model: TextEncoder, dynamo: bool, path: Path) -> None:
    """Write `model` as ONNX with dynamic batch and length, by either exporter."""
    ids, mask = _batch([4, 7], 7)
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["embedding"]}
    if dynamo:
        batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=CFG.max_tokens)
        shapes = {"ids": {0: batch, 1: length}, "mask": {0: batch, 1: length}}
        torch.onnx.export(
            model,
            (ids, mask),
            path,
            dynamo=True,
            external_data=False,
            dynamic_shapes=shapes,
            verbose=False,
            **names,
        )
    else:
        axes = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"}}
        torch.onnx.export(
            model,
            (ids, mask),
            path,
            dynamo=False,
            opset_version=17,
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            **names,
        )


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_onnx_export_matches_torch(model: TextEncoder, dynamo: bool, tmp_path: Path) -> None:
    if dynamo:
        pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    _export(model, dynamo, tmp_path / "text.onnx")
    session = ort.InferenceSession(str(tmp_path / "text.onnx"), providers=["CPUExecutionProvider"])
    # Another batch size, length and padding pattern than the traced one.
    test_ids, test_mask = _batch([12, 3, 7], 12, seed=2)
    (onnx_out,) = session.run(
        ["embedding"], {"input_ids": test_ids.numpy(), "attention_mask": test_mask.numpy()}
    )
    with torch.no_grad():
        torch_out = model(test_ids, test_mask)
    assert onnx_out.shape == (3, CFG.embed_dim)
    cosine = F.cosine_similarity(torch.from_numpy(onnx_out), torch_out, dim=-1)
    assert cosine.min() >= 0.9999
    np.testing.assert_allclose(onnx_out, torch_out.numpy(), atol=1e-4, rtol=1e-4)

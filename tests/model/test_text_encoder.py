"""Text encoder: a BERT tower under a projection head. Shapes, padding never matters, the locked
part is cached exactly, sentence pooling, ONNX export with dynamic batch and length matches torch;
and the real pretrained tower keeps the meaning of words the generator never wrote."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from app.model.bert import BertConfig, mean_pool
from app.model.pretrained import read_tower_files, tower_state_dict
from app.model.text import TextConfig, TextEncoder
from app.text.tokenizer import encode_batch, parse_tokenizer

torch.set_num_threads(1)
SMALL = BertConfig(vocab_size=300, width=32, layers=3, heads=4, intermediate=64, max_positions=32)
CFG = TextConfig(tower=SMALL, trainable_layers=1, head_hidden=16, embed_dim=16, max_tokens=24)


@pytest.fixture(scope="module")
def model() -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(CFG).eval()


def _batch(lengths: list[int], length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids (B, length) with [CLS]=2 first and mask 1 on the first `lengths[b]` tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, SMALL.vocab_size, (len(lengths), length), generator=generator)
    ids[:, 0] = 2
    mask = (torch.arange(length)[None] < torch.tensor(lengths)[:, None]).long()  # (B, L)
    return ids * mask, mask  # padding is [PAD]=0


def test_config_rejects_more_trainable_layers_than_the_tower_has() -> None:
    with pytest.raises(ValueError):
        TextConfig(tower=SMALL, trainable_layers=4)


def test_padding_is_ignored(model: TextEncoder) -> None:
    ids, mask = _batch([5, 9], 9)
    with torch.no_grad():
        padded = model(ids, mask)
        alone = model(ids[:1, :5], mask[:1, :5])
    torch.testing.assert_close(padded[:1], alone, atol=1e-5, rtol=1e-5)
    assert padded.shape == (2, CFG.embed_dim)


def test_cached_locked_states_finish_to_the_same_embedding(model: TextEncoder) -> None:
    ids, mask = _batch([6, 3], 6, seed=1)
    with torch.no_grad():
        whole = model(ids, mask)
        finished = model.from_states(model.locked_states(ids, mask), mask)
    torch.testing.assert_close(whole, finished)


def test_all_padding_row_is_finite(model: TextEncoder) -> None:
    ids, mask = _batch([4, 1], 4)
    mask[1] = 0
    with torch.no_grad():
        assert torch.isfinite(model(ids, mask)).all()


def test_sentence_pooling_ignores_absent_sentences(model: TextEncoder) -> None:
    ids, mask = _batch([5, 4, 3], 5, seed=3)
    sentence_mask = torch.tensor([[1, 1, 0]])
    with torch.no_grad():
        pooled = model.encode_sentences(ids[None], mask[None], sentence_mask)
        expected = model(ids[:2], mask[:2]).mean(dim=0, keepdim=True)
    torch.testing.assert_close(pooled, expected, atol=1e-6, rtol=1e-5)


def test_loading_the_tower_locks_all_but_the_top_layers() -> None:
    torch.manual_seed(0)
    encoder = TextEncoder(CFG)
    encoder.load_tower(TextEncoder(CFG).tower.state_dict())
    trainable = {name for name, p in encoder.named_parameters() if p.requires_grad}
    assert all(name.startswith(("head.", "tower.encoder.layer.2.")) for name in trainable)
    assert any(name.startswith("tower.encoder.layer.2.") for name in trainable)
    ids, mask = _batch([4, 6], 6)
    encoder(ids, mask).square().sum().backward()
    assert encoder.tower.encoder.layer[2].output.dense.weight.grad is not None
    assert encoder.tower.encoder.layer[1].output.dense.weight.grad is None


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
    np.testing.assert_allclose(onnx_out, torch_out.numpy(), atol=1e-4, rtol=1e-4)


def test_pretrained_tower_keeps_the_meaning_of_unseen_clinical_words() -> None:
    """all-MiniLM-L6-v2 as loaded here: words the generator never wrote land near their
    clinical meaning and far from nonsense (sentence vectors, before any projection)."""
    files = read_tower_files()
    tokenizer = parse_tokenizer(files.tokenizer_json.decode("utf-8"))
    encoder = TextEncoder(TextConfig(head_hidden=0, embed_dim=384))
    encoder.load_tower(tower_state_dict(files))
    texts = [
        "thick septum",
        "asymmetric septal hypertrophy",
        "xyzzy foo",
        "fluid around the heart",
        "pericardial effusion",
    ]
    ids, mask = encode_batch(tokenizer, texts, 64)
    with torch.no_grad():
        vectors = mean_pool(
            encoder.tower(torch.from_numpy(ids), torch.from_numpy(mask)), torch.from_numpy(mask)
        )
    cos = (vectors @ vectors.T).numpy()
    assert cos[0, 1] > cos[0, 2] + 0.2  # thick septum ~ septal hypertrophy, not nonsense
    assert cos[3, 4] > cos[3, 2] + 0.2  # fluid around the heart ~ pericardial effusion

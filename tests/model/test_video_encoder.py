"""The video encoder: shapes, unit norms through the CLIP head, masking of absent views, the
single-frame ablation, and the contrastive loss."""

import math

import pytest
import torch

from app.model.bert import BertConfig
from app.model.clip import ClipConfig, CmrClip, clip_loss
from app.model.text import TextConfig
from app.model.video import VideoConfig, VideoEncoder

SMALL = VideoConfig(
    sax_slices=3, lax_views=1, frames=8, crop_px=32, channels=(8, 8, 16), width=16, embed_dim=16
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    sax = torch.rand(batch, SMALL.sax_slices, SMALL.frames, SMALL.crop_px, SMALL.crop_px)
    lax = torch.rand(batch, SMALL.lax_views, SMALL.frames, SMALL.crop_px, SMALL.crop_px)
    return sax, lax, torch.ones(batch, SMALL.lax_views)


def test_shapes_of_study_and_clip_embeddings():
    study, clips = VideoEncoder(SMALL)(*_inputs(2))
    assert study.shape == (2, 16) and clips.shape == (2, SMALL.sax_slices + SMALL.lax_views, 16)


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_stem_stride_downsamples_the_clip_and_keeps_the_interface(stride: int):
    cfg = VideoConfig(**{**SMALL.__dict__, "stem_stride": stride})
    encoder = VideoEncoder(cfg)
    study, clips = encoder(*_inputs(2))
    assert study.shape == (2, 16) and clips.shape == (2, SMALL.sax_slices + SMALL.lax_views, 16)
    stem = encoder.clip_encoder.stem(torch.rand(1, 1, SMALL.frames, SMALL.crop_px, SMALL.crop_px))
    assert stem.shape[-2:] == (SMALL.crop_px // stride, SMALL.crop_px // stride)


def test_absent_long_axis_view_does_not_change_the_study_embedding():
    encoder = VideoEncoder(SMALL).eval()
    sax, lax, _ = _inputs(1)
    absent = torch.zeros(1, 1)
    first, _ = encoder(sax, lax, absent)
    second, _ = encoder(sax, torch.rand_like(lax), absent)
    torch.testing.assert_close(first, second)
    present, _ = encoder(sax, lax, torch.ones(1, 1))
    assert not torch.allclose(first, present)


def test_motion_matters_to_the_video_model_and_not_to_the_single_frame_ablation():
    sax, lax, present = _inputs(1)
    moved = sax.clone()
    moved[:, :, 1:] = torch.rand_like(moved[:, :, 1:])  # same end-diastolic frame, other motion
    video = VideoEncoder(SMALL).eval()
    single = VideoEncoder(VideoConfig(**{**SMALL.__dict__, "single_frame": True})).eval()
    assert not torch.allclose(video(sax, lax, present)[0], video(moved, lax, present)[0])
    torch.testing.assert_close(single(sax, lax, present)[0], single(moved, lax, present)[0])
    assert sum(p.numel() for p in video.parameters()) == sum(p.numel() for p in single.parameters())


def test_clip_head_gives_unit_vectors_and_a_bounded_scale():
    tower = BertConfig(vocab_size=50, width=16, layers=1, heads=2, intermediate=32)
    cfg = ClipConfig(video=SMALL, text=TextConfig(tower=tower, embed_dim=16))
    model = CmrClip(cfg)
    video = model.encode_video(*_inputs(3))
    ids = torch.randint(4, 50, (3, 2, 6))
    text = model.encode_text(ids, torch.ones_like(ids), torch.ones(3, 2))
    torch.testing.assert_close(video.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(3))
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert float(model.scale()) == pytest.approx(100.0)


def test_clip_loss_is_log_batch_for_uninformative_embeddings_and_falls_when_pairs_match():
    same = torch.nn.functional.normalize(torch.ones(4, 8), dim=-1)
    assert float(clip_loss(same, same, torch.tensor(10.0))) == pytest.approx(math.log(4))
    matched = torch.eye(4, 8)
    assert float(clip_loss(matched, matched, torch.tensor(10.0))) < 0.01

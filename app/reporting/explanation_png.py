"""A small PNG of an explanation: the mid short-axis slice at end-diastole, and beside it the
stack of short-axis slices (base at the top) shaded by how much each argued for the condition,
the driving slices outlined. Pillow only; about 10 KB."""

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.pipeline.explanation import ConditionExplanation, StudyExplanation

SCALE = 4  # model pixels (2.4 mm) -> PNG pixels
LADDER_WIDTH = 150


def _slice_image(mid_slice: np.ndarray) -> Image.Image:
    pixels = np.clip(mid_slice / max(float(mid_slice.max()), 1e-6), 0, 1) * 255
    image = Image.fromarray(pixels.astype(np.uint8), mode="L").convert("RGB")
    return image.resize((image.width * SCALE, image.height * SCALE), Image.Resampling.BILINEAR)


def explanation_png(explanation: StudyExplanation, condition: ConditionExplanation) -> bytes:
    """PNG bytes for one condition of a study's explanation."""
    image = _slice_image(explanation.mid_slice)
    height = image.height
    canvas = Image.new("RGB", (image.width + LADDER_WIDTH, height + 20), "black")
    canvas.paste(image, (0, 20))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((4, 4), f"{condition.label}: mid SAX, end-diastole", fill="white", font=font)
    sax = [c for c in explanation.clips if c.slice_index is not None]
    weights = dict(zip((c.index for c in explanation.clips), condition.clip_weights, strict=True))
    top = max((abs(w) for w in weights.values()), default=1.0) or 1.0
    row = height / max(len(sax), 1)
    left = image.width + 8
    for position, clip in enumerate(sax):
        y0 = 20 + position * row + 2
        y1 = 20 + (position + 1) * row - 2
        w = weights[clip.index] / top
        shade = (int(255 * w), 40, 40) if w > 0 else (40, 40, int(255 * -w))
        outline = "yellow" if clip.index in condition.driving_clips else "gray"
        draw.rectangle((left, y0, left + 40, y1), fill=shade, outline=outline, width=2)
        draw.text((left + 48, y0), f"{clip.slice_index} {clip.level}", fill="white", font=font)
    draw.text((left, 6), "base", fill="white", font=font)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()

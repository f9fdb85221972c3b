"""A tiny model and training configuration, as `section.key=value` overrides."""

TINY = [
    "input.sax_slices=4",
    "input.frames=8",
    "input.crop_px=32",
    "input.pixel_mm=4.0",
    "model.channels=[8, 16, 16]",
    "model.width=32",
    "model.embed_dim=32",
    "train.batch_size=5",
    "train.lr=0.001",
    "train.warmup_steps=0",
    "train.augment=false",
]

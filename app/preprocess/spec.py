"""What the model expects as input. The released model card carries one of these, so the
gateway always preprocesses exactly as the model it feeds was trained."""

from pydantic import BaseModel, ConfigDict, Field


class InputSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sax_slices: int = Field(8, ge=1, le=32, description="short-axis slices, base to apex")
    frames: int = Field(16, ge=2, le=64, description="frames over one cardiac cycle")
    pixel_mm: float = Field(2.4, gt=0.3, le=5.0, description="in-plane pixel size after resampling")
    crop_px: int = Field(64, ge=16, le=256, description="square crop around the heart, pixels")
    lax_views: tuple[str, ...] = Field(("4ch",), description="long-axis views, in model order")
    intensity_percentiles: tuple[float, float] = Field(
        (1.0, 99.5), description="robust range mapped to [0, 1] per view"
    )

    @property
    def crop_mm(self) -> float:
        return self.crop_px * self.pixel_mm

"""The patient around the heart: where the heart sits in DICOM patient space (LPS, mm), the
static tissues around it, and the image planes a scanner would prescribe (oblique short-axis
stack and a 4-chamber long-axis plane)."""

from dataclasses import dataclass

import numpy as np

from app.synth.heart import HeartModel


@dataclass(frozen=True)
class Plane:
    """One image plane: DICOM ImagePositionPatient of pixel (0, 0) and direction cosines."""

    origin_mm: np.ndarray  # (3,)
    row_dir: np.ndarray  # (3,) direction of increasing column index
    col_dir: np.ndarray  # (3,) direction of increasing row index
    pixel_mm: float
    size: int  # square matrix

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_dir, self.col_dir)

    def points(self) -> np.ndarray:
        """Patient coordinates of every pixel centre, float32 (H, W, 3)."""
        index = np.arange(self.size, dtype=np.float32) * self.pixel_mm
        return (
            self.origin_mm.astype(np.float32)
            + index[None, :, None] * self.row_dir.astype(np.float32)
            + index[:, None, None] * self.col_dir.astype(np.float32)
        )


@dataclass(frozen=True)
class HeartPlacement:
    """Heart frame in patient space: apex point and unit axes (see app.synth.heart)."""

    apex_mm: np.ndarray
    to_apex: np.ndarray  # long axis, base -> apex
    lateral: np.ndarray  # angle 0
    anterior: np.ndarray  # angle 90

    def heart_coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rel = points - self.apex_mm.astype(np.float32)
        return (
            rel @ self.lateral.astype(np.float32),
            rel @ self.anterior.astype(np.float32),
            rel @ (-self.to_apex).astype(np.float32),
        )


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def place_heart(model: HeartModel, rng: np.random.Generator) -> HeartPlacement:
    """The apex points left, anterior and inferior ((+1, -1, -1) in LPS), with patient variation;
    the septum faces the patient's right and front, where the RV lies."""
    to_apex = _unit(np.array([0.62, -0.55, -0.56]) + rng.normal(0, 0.07, 3))
    lateral = _unit(-np.cross(to_apex, [0.0, 0.0, 1.0]))
    anterior = np.cross(to_apex, lateral)
    lv_centre = np.array([25.0, -5.0, 0.0]) + rng.normal(0, 6, 3)
    apex = lv_centre + to_apex * model.length_ed * 0.5
    return HeartPlacement(apex, to_apex, lateral, anterior)


def _rotated(row: np.ndarray, col: np.ndarray, angle_rad: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return c * row + s * col, -s * row + c * col


def short_axis_stack(
    model: HeartModel,
    placement: HeartPlacement,
    rng: np.random.Generator,
    *,
    size: int,
    pixel_mm: float,
    gap_mm: float,
    normal_towards_apex: bool,
) -> list[Plane]:
    """Slices from just above the mitral plane to the apex, 6-14 of them, base first."""
    # The first slice half a gap below the mitral plane at end-diastole: disc summation then
    # integrates the cavity at slice mid-points, as a reader places the basal slice.
    top = model.length_ed - gap_mm / 2 + rng.uniform(-1.5, 1.5)
    count = int(np.clip(np.floor(top / gap_mm + 0.5) + 1, 6, 14))
    row, col = _rotated(placement.lateral, -placement.anterior, rng.uniform(-0.25, 0.25))
    if normal_towards_apex:  # the other handedness: image mirrored, normal base -> apex
        row = -row
    offset = rng.uniform(-15, 15, 2)
    half = (size - 1) / 2 * pixel_mm
    planes = []
    for k in range(count):
        height = top - k * gap_mm
        centre = placement.apex_mm - placement.to_apex * height + offset[0] * row + offset[1] * col
        planes.append(Plane(centre - half * row - half * col, row, col, pixel_mm, size))
    return planes


def four_chamber_plane(
    model: HeartModel, placement: HeartPlacement, *, size: int, pixel_mm: float
) -> Plane:
    """Horizontal long axis through the LV axis and the RV: apex at the top of the image."""
    row, col = placement.lateral, -placement.to_apex
    centre = placement.apex_mm - placement.to_apex * model.length_ed * 0.75
    half = (size - 1) / 2 * pixel_mm
    return Plane(centre - half * row - half * col, row, col, pixel_mm, size)


# Static tissues as (centre LPS mm, semi-axes mm, value relative to blood).
_ELLIPSOIDS = (
    (np.array([-75.0, 25.0, 40.0]), np.array([60.0, 75.0, 130.0]), 0.05),  # right lung
    (np.array([85.0, 30.0, 40.0]), np.array([55.0, 75.0, 130.0]), 0.05),  # left lung
    (np.array([-55.0, 20.0, -150.0]), np.array([105.0, 85.0, 80.0]), 0.30),  # liver
    (np.array([60.0, 40.0, -150.0]), np.array([60.0, 50.0, 50.0]), 0.55),  # stomach/spleen
)
_CYLINDERS = (  # along the patient's z axis: (x, y, radius, value)
    (15.0, 55.0, 12.0, 0.85),  # descending aorta
    (0.0, 95.0, 22.0, 0.45),  # vertebral body
)


def surroundings(points: np.ndarray, soft_tissue: float, fat: float) -> np.ndarray:
    """Non-beating anatomy at each point (relative to blood = 1): body, subcutaneous fat,
    chest wall, lungs, liver, aorta, spine. float32 with the points' leading shape."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    body = np.hypot(x / 175.0, (y - 25.0) / 125.0)
    image = np.where(body < 1, fat, 0.0).astype(np.float32)
    image[body < 0.9] = soft_tissue
    for centre, semi, value in _ELLIPSOIDS:
        g = ((points - centre.astype(np.float32)) / semi.astype(np.float32)) ** 2
        image[g.sum(axis=-1) < 1] = value
    for cx, cy, radius, value in _CYLINDERS:
        image[np.hypot(x - cx, y - cy) < radius] = value
    image[z > 400] = 0  # keep the model finite
    return image


def coil_sensitivity(points: np.ndarray, strength: float) -> np.ndarray:
    """Smooth receive-coil bias: brighter near the anterior chest coil, darker posteriorly."""
    y = points[..., 1]
    x = points[..., 0]
    field = 1 + strength * (np.exp(-(((y + 100.0) / 160.0) ** 2)) - 0.5)
    field *= 1 + 0.5 * strength * np.tanh(x / 250.0)
    return field.astype(np.float32)

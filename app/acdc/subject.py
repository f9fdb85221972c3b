"""One ACDC subject folder -> its facts (`Info.cfg`), its key-frame `CineStudy`, and the
volumes measured from its expert masks.

Layout (see ../shared/realdata/acdc/README.md): `Info.cfg` (ED, ES, Group, Height, Weight,
NbFrame) and `patientNNN_frameXX.nii.gz` / `..._gt.nii.gz` for the ED and ES frames. Slices run
base -> apex along the array's third axis. The sform is a bare direction matrix, so sizes come
from the header zooms, never from the affine. Images are shown transposed (rows = the array's
second axis), the orientation the challenge's own figures use.
"""

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from app.dicom.study import CineStudy, CineView
from app.errors import InvalidSubjectError

GROUPS = ("NOR", "DCM", "HCM", "MINF", "RV")
NOMINAL_RR_MS = 1000.0  # ACDC gives no heart rate: phases are placed as fractions of a cycle
LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY = 3, 2, 1


@dataclass(frozen=True)
class SubjectInfo:
    subject_id: str
    group: str
    ed_frame: int  # 1-based
    es_frame: int
    frames: int
    height_cm: float
    weight_kg: float

    @property
    def bsa_m2(self) -> float:
        """Mosteller body surface area."""
        return float(np.sqrt(self.height_cm * self.weight_kg / 3600.0))


@dataclass(frozen=True)
class MaskMeasurements:
    lvedv_ml: float
    lvesv_ml: float
    rvedv_ml: float
    rvesv_ml: float
    lv_max_wall_mm: float  # end-diastolic, from the myocardium mask

    @property
    def lvef_pct(self) -> float:
        return 100.0 * (self.lvedv_ml - self.lvesv_ml) / self.lvedv_ml

    @property
    def rvef_pct(self) -> float:
        return 100.0 * (self.rvedv_ml - self.rvesv_ml) / self.rvedv_ml


def read_info(folder: Path) -> SubjectInfo:
    """Parse `Info.cfg`. Raises InvalidSubjectError when it is missing or incomplete."""
    path = folder / "Info.cfg"
    if not path.is_file():
        raise InvalidSubjectError(f"{folder.name}: no Info.cfg")
    lines = (line.partition(":") for line in path.read_text().splitlines())
    fields = {key.strip(): value.strip() for key, sep, value in lines if sep}
    try:
        info = SubjectInfo(
            subject_id=folder.name,
            group=fields["Group"],
            ed_frame=int(fields["ED"]),
            es_frame=int(fields["ES"]),
            frames=int(fields["NbFrame"]),
            height_cm=float(fields["Height"]),
            weight_kg=float(fields["Weight"]),
        )
    except (KeyError, ValueError) as error:
        raise InvalidSubjectError(f"{folder.name}: Info.cfg lacks or garbles {error}") from error
    if info.group not in GROUPS:
        raise InvalidSubjectError(f"{folder.name}: unknown group {info.group!r}")
    if not 1 <= info.ed_frame <= info.frames or not 1 <= info.es_frame <= info.frames:
        raise InvalidSubjectError(f"{folder.name}: ED/ES frames outside 1..{info.frames}")
    if info.ed_frame == info.es_frame:
        raise InvalidSubjectError(f"{folder.name}: ED and ES are one frame: no contraction")
    return info


def _frame_path(folder: Path, frame: int, mask: bool = False) -> Path:
    path = folder / f"{folder.name}_frame{frame:02d}{'_gt' if mask else ''}.nii.gz"
    if not path.is_file():
        raise InvalidSubjectError(f"{folder.name}: {path.name} is missing")
    return path


def _read_volume(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """(X, Y, Z) array and zooms in mm. Raises InvalidSubjectError for a bad file."""
    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj, dtype=np.float32)
        zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    except Exception as error:  # nibabel raises many kinds on corrupt or truncated files
        raise InvalidSubjectError(f"{path.name} is not a readable NIfTI file: {error}") from error
    if data.ndim != 3 or min(data.shape) < 1 or min(zooms) <= 0:
        raise InvalidSubjectError(f"{path.name}: expected one 3D frame, got {data.shape}")
    return data, zooms  # type: ignore[return-value]


def load_subject_study(folder: Path) -> CineStudy:
    """The subject's ED and ES frames as a two-phase short-axis `CineStudy`, with a warning
    that says so. Raises InvalidSubjectError."""
    info = read_info(folder)
    (ed, zooms), (es, es_zooms) = (
        _read_volume(_frame_path(folder, frame)) for frame in (info.ed_frame, info.es_frame)
    )
    if ed.shape != es.shape or zooms != es_zooms:
        raise InvalidSubjectError(f"{folder.name}: ED and ES frames differ in grid")
    pixels = np.stack([ed, es]).transpose(3, 0, 2, 1)  # (X,Y,Z) x2 -> (S, 2, rows=Y, cols=X)
    slices = pixels.shape[0]
    phase_ms = [
        (frame - 1) / info.frames * NOMINAL_RR_MS for frame in (info.ed_frame, info.es_frame)
    ]
    sax = CineView(
        name="sax",
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        pixel_spacing_mm=(zooms[1], zooms[0]),
        orientation=np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        slice_positions_mm=np.array([[0.0, 0.0, z * zooms[2]] for z in range(slices)]),
        trigger_times_ms=np.tile(np.array(phase_ms), (slices, 1)),
        rr_interval_ms=NOMINAL_RR_MS,
        series_instance_uids=(),
        series_description="ACDC short axis",
    )
    return CineStudy(
        study_instance_uid=f"acdc-{info.subject_id}",
        views={"sax": sax},
        warnings=[
            "key frames only: end-diastole and end-systole of a NIfTI subject; "
            "the motion between them is interpolated"
        ],
        n_files=4,
    )


def _max_wall_mm(myocardium: np.ndarray, zooms: tuple[float, float, float]) -> float:
    """Maximal myocardial wall thickness in mm: the 95th percentile, over every slice, of the
    thickness along the wall's midline (twice the distance to the mask's edge at the ridge of
    the distance map). The percentile, not the maximum: the ridge's widest points sit where
    the RV inserts and at papillary muscles touching the wall (the maximum read 13.7 mm for a
    normal heart). Over ACDC: NOR 10.7 mm on average (at most 12.5), HCM 17.4 (at least 14.1)."""
    thickness: list[np.ndarray] = []
    for z in range(myocardium.shape[2]):
        wall = myocardium[..., z]
        if np.count_nonzero(wall) < 20:  # a speck at the apex or the base
            continue
        inside = ndimage.distance_transform_edt(wall, sampling=zooms[:2])
        ridge = wall & (inside == ndimage.maximum_filter(inside, size=3))
        thickness.append(2.0 * inside[ridge])
    if not thickness:
        raise InvalidSubjectError("the ED mask has no myocardium")
    return float(np.percentile(np.concatenate(thickness), 95))


def measure_masks(folder: Path) -> MaskMeasurements:
    """LV/RV volumes (voxel count x voxel volume) at ED and ES and the ED maximal wall
    thickness, from the expert masks. Raises InvalidSubjectError."""
    info = read_info(folder)
    (ed, zooms), (es, _) = (
        _read_volume(_frame_path(folder, f, mask=True)) for f in (info.ed_frame, info.es_frame)
    )
    voxel_ml = zooms[0] * zooms[1] * zooms[2] / 1000.0

    def volume(mask: np.ndarray, label: int) -> float:
        return float(np.count_nonzero(np.rint(mask) == label)) * voxel_ml

    lvedv, rvedv = volume(ed, LV_CAVITY), volume(ed, RV_CAVITY)
    if lvedv <= 0 or rvedv <= 0:
        raise InvalidSubjectError(f"{folder.name}: the ED mask has no LV or RV cavity")
    return MaskMeasurements(
        lvedv_ml=lvedv,
        lvesv_ml=volume(es, LV_CAVITY),
        rvedv_ml=rvedv,
        rvesv_ml=volume(es, RV_CAVITY),
        lv_max_wall_mm=_max_wall_mm(np.rint(ed) == LV_MYOCARDIUM, zooms),
    )

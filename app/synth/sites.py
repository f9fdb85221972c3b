"""Scanner sites: how acquisition, contrast, noise, DICOM conventions and report writers differ.

Sites marked `external` are never used for training; evaluation reports them separately, so
"external validation" means new contrast, noise, geometry conventions and report language.
"""

from dataclasses import dataclass
from typing import Literal

TransferSyntax = Literal["explicit_le", "implicit_le", "jpeg_ls", "rle"]


@dataclass(frozen=True)
class SiteProfile:
    name: str
    external: bool
    manufacturer: str
    model_name: str
    field_strength_t: float
    phases_range: tuple[int, int]  # cardiac phases per cycle (inclusive)
    matrix_choices: tuple[int, ...]  # square matrix sizes (rows == columns)
    fov_mm_range: tuple[float, float]  # field of view; pixel size = fov / matrix, kept 1.2-2.0 mm
    slice_gap_mm_range: tuple[float, float]  # centre-to-centre SAX spacing
    slice_thickness_mm: float
    blood_to_myo: tuple[float, float]  # SSFP contrast ratio range (the real GE study: about 2.7)
    snr_range: tuple[float, float]  # blood signal / noise sigma, before Rician magnitude
    bias_strength: float  # amplitude of the smooth coil sensitivity field (0 = flat)
    stored_blood_level: float  # stored value of blood; sets the integer range vendors use
    rescale_slope: float  # Philips-style scaling; 1.0 means stored values are the signal
    signed_pixels: bool
    normal_towards_apex: bool  # orientation convention: stack normal base->apex or apex->base
    instances_apex_first: bool  # InstanceNumber order of slices within the series
    series_per_slice: bool  # Siemens-style: each SAX slice its own series
    sax_description: str
    lax_description: str
    transfer_syntax: TransferSyntax
    report_style: str
    patient_position: str = "HFS"


SITES: dict[str, SiteProfile] = {
    site.name: site
    for site in (
        SiteProfile(
            name="site_a",
            external=False,
            manufacturer="GE MEDICAL SYSTEMS",
            model_name="SIGNA HDx",
            field_strength_t=1.5,
            phases_range=(20, 20),
            matrix_choices=(256,),
            fov_mm_range=(330.0, 370.0),
            slice_gap_mm_range=(10.0, 10.0),
            slice_thickness_mm=8.0,
            blood_to_myo=(2.7, 3.2),
            snr_range=(28.0, 40.0),
            bias_strength=0.25,
            stored_blood_level=260.0,
            rescale_slope=1.0,
            signed_pixels=True,
            normal_towards_apex=False,
            instances_apex_first=False,
            series_per_slice=False,
            sax_description="",
            lax_description="",
            transfer_syntax="explicit_le",
            report_style="narrative",
            patient_position="FFS",
        ),
        SiteProfile(
            name="site_b",
            external=False,
            manufacturer="SIEMENS",
            model_name="Avanto",
            field_strength_t=1.5,
            phases_range=(25, 25),
            matrix_choices=(208, 224),
            fov_mm_range=(320.0, 360.0),
            slice_gap_mm_range=(8.0, 10.0),
            slice_thickness_mm=6.0,
            blood_to_myo=(2.6, 3.2),
            snr_range=(25.0, 35.0),
            bias_strength=0.35,
            stored_blood_level=420.0,
            rescale_slope=1.0,
            signed_pixels=False,
            normal_towards_apex=True,
            instances_apex_first=False,
            series_per_slice=True,
            sax_description="cine_trufi_retro_sax",
            lax_description="cine_trufi_retro_4ch",
            transfer_syntax="explicit_le",
            report_style="terse",
        ),
        SiteProfile(
            name="site_c",
            external=False,
            manufacturer="Philips Medical Systems",
            model_name="Ingenia",
            field_strength_t=3.0,
            phases_range=(30, 30),
            matrix_choices=(240, 256),
            fov_mm_range=(340.0, 380.0),
            slice_gap_mm_range=(8.0, 9.0),
            slice_thickness_mm=8.0,
            blood_to_myo=(2.8, 3.4),
            snr_range=(30.0, 45.0),
            bias_strength=0.45,
            stored_blood_level=1800.0,
            rescale_slope=1.4,
            signed_pixels=False,
            normal_towards_apex=False,
            instances_apex_first=True,
            series_per_slice=False,
            sax_description="sBTFE_SA",
            lax_description="sBTFE_4CH",
            transfer_syntax="implicit_le",
            report_style="numbered",
        ),
        SiteProfile(
            name="site_d",
            external=True,
            manufacturer="TOSHIBA_MEC",
            model_name="Vantage Titan",
            field_strength_t=1.5,
            phases_range=(22, 24),
            matrix_choices=(192, 208),
            fov_mm_range=(320.0, 380.0),
            slice_gap_mm_range=(8.0, 10.0),
            slice_thickness_mm=7.0,
            blood_to_myo=(2.2, 2.7),
            snr_range=(16.0, 24.0),
            bias_strength=0.5,
            stored_blood_level=900.0,
            rescale_slope=1.0,
            signed_pixels=False,
            normal_towards_apex=True,
            instances_apex_first=True,
            series_per_slice=False,
            sax_description="Cine SSFP short axis",
            lax_description="Cine SSFP HLA",
            transfer_syntax="jpeg_ls",
            report_style="measurement_first",
        ),
        SiteProfile(
            name="site_e",
            external=True,
            manufacturer="SIEMENS",
            model_name="MAGNETOM Vida",
            field_strength_t=3.0,
            phases_range=(25, 30),
            matrix_choices=(224, 256),
            fov_mm_range=(300.0, 340.0),
            slice_gap_mm_range=(8.0, 10.0),
            slice_thickness_mm=6.0,
            blood_to_myo=(2.9, 3.5),
            snr_range=(20.0, 30.0),
            bias_strength=0.3,
            stored_blood_level=650.0,
            rescale_slope=1.0,
            signed_pixels=False,
            normal_towards_apex=False,
            instances_apex_first=False,
            series_per_slice=True,
            sax_description="CINE_SAX_TF2D",
            lax_description="CINE_4CH_TF2D",
            transfer_syntax="rle",
            report_style="hedging",
        ),
    )
}

TRAINING_SITES = tuple(name for name, site in SITES.items() if not site.external)
EXTERNAL_SITES = tuple(name for name, site in SITES.items() if site.external)


def resolve_sites(selector: str) -> tuple[str, ...]:
    """`all`, `train`, `external`, one site name, or a comma-separated list of names."""
    groups = {"all": tuple(SITES), "train": TRAINING_SITES, "external": EXTERNAL_SITES}
    if selector in groups:
        return groups[selector]
    names = tuple(part.strip() for part in selector.split(",") if part.strip())
    unknown = [name for name in names if name not in SITES]
    if unknown or not names:
        raise ValueError(f"unknown site(s) {unknown or selector!r}; known: {', '.join(SITES)}")
    return names

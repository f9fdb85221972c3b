"""Beating heart in its own frame: tissue fractions of LV, RV, atria and pericardium.

Heart frame (mm): `h` is height above the LV endocardial apex towards the base, (`u`, `v`) lie
in the short-axis plane with angle 0 = lateral wall, 90 = anterior, 180 = septum (RV side),
270 = inferior. The LV cavity is a half ellipsoid (radius `a`, length `L`) whose apex stays put
while the base descends in systole; the cavity radius follows a prescribed volume-time curve,
solved per phase so that the rendered volume matches EDV/EF exactly (regional motion included).
The myocardium conserves its volume, so the wall thickens where (and only where) it moves.
"""

from dataclasses import dataclass

import numpy as np

from app.synth.params import (
    HYPERTROPHY_SEGMENTS,
    TERRITORIES,
    HeartParams,
    cavity_profile,
    hypertrophy_extent,
)

_THETA_GRID = np.linspace(-np.pi, np.pi, 720, endpoint=False)
RV_FREE_WALL_MM = 3.0
PERICARDIUM_MM = 1.5
_RV_SCALES = np.linspace(0.05, 3.0, 21)


def volume_curve(phase: np.ndarray, end_systole: float) -> np.ndarray:
    """Fraction of the stroke volume ejected at each cycle phase in [0, 1): 0 at end-diastole,
    1 at end-systole; then rapid filling, diastasis and the atrial kick."""
    phase = np.mod(phase, 1.0)
    filled_at = end_systole + 0.18
    ejection = 0.5 * (1 - np.cos(np.pi * np.clip(phase / end_systole, 0, 1)))
    rapid = 0.3 + 0.35 * (1 + np.cos(np.pi * np.clip((phase - end_systole) / 0.18, 0, 1)))
    diastasis = 0.3 - 0.1 * np.clip((phase - filled_at) / (0.85 - filled_at), 0, 1)
    kick = 0.1 * (1 + np.cos(np.pi * np.clip((phase - 0.85) / 0.15, 0, 1)))
    return np.select(
        [phase < end_systole, phase < filled_at, phase < 0.85], [ejection, rapid, diastasis], kick
    )


def _window(theta: np.ndarray, centre_deg: float, half_width_deg: float) -> np.ndarray:
    """Smooth angular window: 1 inside the segment, cosine taper of 20 degrees, 0 outside."""
    delta = np.abs(np.angle(np.exp(1j * (theta - np.deg2rad(centre_deg)))))
    edge = np.deg2rad(half_width_deg)
    taper = np.deg2rad(20.0)
    return np.clip(0.5 * (1 + np.cos(np.pi * np.clip((delta - edge) / taper, 0, 1))), 0, 1)


@dataclass(frozen=True)
class HeartFractions:
    """Per-pixel fractions (each float32, same shape as the query) of one phase."""

    lv_blood: np.ndarray  # cavity, papillary muscles included (as volumetry counts them)
    papillary: np.ndarray  # the part of lv_blood that is papillary muscle
    rv_blood: np.ndarray
    atrial_blood: np.ndarray
    myocardium: np.ndarray  # LV myocardium and RV free wall
    fluid: np.ndarray  # pericardial fluid (physiological film or effusion)
    pericardium: np.ndarray


class HeartModel:
    """Geometry and motion of one heart; `fractions()` samples it on any set of points."""

    def __init__(self, params: HeartParams) -> None:
        self.params = params
        self.length_ed = params.lv_length_mm
        self.radius_ed = float(np.sqrt(3 * params.lvedv_ml * 1000 / (2 * np.pi * self.length_ed)))
        self.apex_cap_mm = params.wall_mm
        motion = self.motion_factor(_THETA_GRID)
        step = 2 * np.pi / _THETA_GRID.size
        self._motion_m1 = float(np.sum(motion) * step)
        self._motion_m2 = float(np.sum(motion**2) * step)
        self._rv_volume_table = self._tabulate_rv_volume()

    # --- motion over the cycle -------------------------------------------------------------
    def ejected_fraction(self, phase: np.ndarray) -> np.ndarray:
        return volume_curve(phase, self.params.end_systole_phase)

    def lv_length(self, ejected: float) -> float:
        return self.length_ed * (1 - self.params.long_axis_shortening * ejected)

    def lv_volume_ml(self, ejected: float) -> float:
        p = self.params
        return p.lvedv_ml - (p.lvedv_ml - p.lvesv_ml) * ejected

    def radial_contraction(self, ejected: float) -> float:
        """x in [0, 1): normally moving endocardium sits at (1 - x) of its diastolic radius.

        Solves  (M2/2) x^2 - M1 x + (pi - Q) = 0  where the angular integrals M1, M2 of the
        regional motion factor make the volume exact with akinetic segments included.
        """
        q = (
            self.lv_volume_ml(ejected)
            * 1000
            / (2 / 3 * self.lv_length(ejected) * self.radius_ed**2)
        )
        m1, m2 = self._motion_m1, self._motion_m2
        disc = max(m1 * m1 - 2 * m2 * (np.pi - q), 0.0)
        return float(np.clip((m1 - np.sqrt(disc)) / m2, 0.0, 0.95))

    def stretch(self, ejected: float) -> float:
        """Diastolic over current LV length: maps a height now to its end-diastolic height."""
        return self.length_ed / self.lv_length(ejected)

    def motion_factor(self, theta: np.ndarray) -> np.ndarray:
        """Regional endocardial excursion relative to normal (1; 0 = akinetic)."""
        return 1.0 - (1.0 - self.params.infarct_motion_factor) * self._infarct_window(theta)

    def lv_radii(
        self,
        theta: np.ndarray,
        h_ed: np.ndarray,
        stretch: float,
        ejected: float,
        motion: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Endocardial and epicardial radius (mm) at angles/diastolic heights, one phase."""
        depth = (self.length_ed - h_ed) / self.length_ed
        profile = cavity_profile(depth) * (h_ed <= self.length_ed)
        endo_ed = self.radius_ed * profile
        endo = endo_ed * (1 - motion * self.radial_contraction(ejected))
        epi_ed = self._epi_radius_ed(theta, h_ed, 0.0)
        # Myocardial volume is conserved: the ring keeps its area, scaled by the shortening.
        epi = np.sqrt(endo**2 + np.clip(epi_ed**2 - endo_ed**2, 0, None) * stretch)
        return endo, epi

    # --- regional factors -------------------------------------------------------------------
    def _infarct_window(self, theta: np.ndarray) -> np.ndarray:
        territory = self.params.infarct_territory
        if territory is None:
            return np.zeros_like(theta)
        return _window(theta, *TERRITORIES[territory])

    def _wall_ed(self, theta: np.ndarray, h_ed: np.ndarray) -> np.ndarray:
        p = self.params
        if p.hypertrophy_segment is None:
            return np.full_like(theta, p.wall_mm)
        angular = _window(theta, *HYPERTROPHY_SEGMENTS[p.hypertrophy_segment])
        basal_mid = hypertrophy_extent(h_ed / self.length_ed)
        return p.wall_mm + p.hypertrophy_extra_mm * angular * basal_mid

    def _epi_radius_ed(self, theta: np.ndarray, h_ed: np.ndarray, grow_mm: float) -> np.ndarray:
        radius = self.radius_ed + self._wall_ed(theta, h_ed) + grow_mm
        depth = (self.length_ed - h_ed) / (self.length_ed + self.apex_cap_mm + grow_mm)
        inside = np.clip(1 - depth**2, 0, None) * (h_ed <= self.length_ed)
        return radius * np.sqrt(inside)

    # --- right ventricle --------------------------------------------------------------------
    def _rv_ellipse(self, h_ed: np.ndarray, scale: float) -> tuple[np.ndarray, ...]:
        """Centre (u) and semi-axes (along u, along v) of the RV cavity ellipse per height."""
        rv_length = 0.8 * self.length_ed
        depth = (self.length_ed - h_ed) / rv_length
        profile = np.sqrt(np.clip(1 - depth**2, 0, None)) * (h_ed <= self.length_ed + 5)
        outer = self.radius_ed + self.params.wall_mm
        centre_u = np.full_like(h_ed, -0.8 * outer)
        return centre_u, scale * 0.75 * outer * profile, 1.3 * outer * profile

    def _tabulate_rv_volume(self) -> np.ndarray:
        """RV cavity volume (mL) over ellipse scales at end-diastole and at end-systole (the
        septum moves with the LV): shape (2, n_scales). Sampled with the very fractions the
        renderer uses, so a target volume maps to a scale by interpolation, not root search."""
        step = 2.5
        outer = self.radius_ed + self.params.wall_mm
        heights = np.arange(-3.0, self.length_ed + 6, step)[:, None, None]
        u, v = np.meshgrid(
            np.arange(-3.2 * outer, 0.7 * outer, step), np.arange(-1.4 * outer, 1.4 * outer, step)
        )
        u, v = u[None], v[None]
        theta = np.arctan2(v, u)
        motion = self.motion_factor(theta)
        table = np.zeros((2, _RV_SCALES.size))
        for row, ejected in enumerate((0.0, 1.0)):
            stretch = self.stretch(ejected)
            h_ed = heights * stretch
            _, lv_epi = self.lv_radii(theta, h_ed, stretch, ejected, motion)
            lv_outer = np.clip((lv_epi - np.hypot(u, v)) / step + 0.5, 0, 1)
            for col, scale in enumerate(_RV_SCALES):
                rv = self._rv_blood(u, v, h_ed, float(scale), lv_outer, 1 / step)
                table[row, col] = float(rv.sum()) * step**3 / 1000
        return table

    def _rv_blood(self, u, v, h_ed, scale: float, lv_outer, soft: float) -> np.ndarray:
        centre_u, semi_u, semi_v = self._rv_ellipse(h_ed, scale)
        return self._soft_ellipse(u - centre_u, v, semi_u, semi_v, soft) * (1 - lv_outer)

    def rv_scale(self, ejected: float) -> float:
        p = self.params
        target = p.rvedv_ml * (1 - p.rvef_pct / 100 * ejected)
        volumes = (1 - ejected) * self._rv_volume_table[0] + ejected * self._rv_volume_table[1]
        return float(np.interp(target, volumes, _RV_SCALES))

    # --- sampling ---------------------------------------------------------------------------
    def sampler(
        self, u: np.ndarray, v: np.ndarray, h: np.ndarray, pixel_mm: float
    ) -> "PlaneSampler":
        return PlaneSampler(self, u, v, h, pixel_mm)

    @staticmethod
    def _soft_ellipse(du, dv, semi_u, semi_v, soft: float) -> np.ndarray:
        g = np.sqrt((du / np.maximum(semi_u, 1e-3)) ** 2 + (dv / np.maximum(semi_v, 1e-3)) ** 2)
        distance = (1 - g) * np.hypot(du, dv) / np.maximum(g, 1e-3)
        return np.clip(distance * soft + 0.5, 0, 1)

    def _atria(self, u, v, h_ed, ejected: float, soft: float) -> np.ndarray:
        """Left and right atria above the valve plane; they fill while the ventricles empty."""
        fill = 1 + 0.12 * ejected
        base = self.length_ed
        radius = 0.75 * self.radius_ed * fill
        left = self._soft_ellipsoid(u - 0.1 * radius, v, h_ed - base - 24, radius, 24 * fill, soft)
        right_u = u + self.radius_ed + self.params.wall_mm + 12
        right = self._soft_ellipsoid(right_u, v, h_ed - base - 20, radius, 22 * fill, soft)
        return np.maximum(left, right) * (h_ed > base)

    @staticmethod
    def _soft_ellipsoid(du, dv, dh, radius: float, half_height: float, soft: float):
        g = np.sqrt((du**2 + dv**2) / radius**2 + (dh / half_height) ** 2)
        distance = (1 - g) * radius
        return np.clip(distance * soft + 0.5, 0, 1)

    def _sac(self, u, v, theta, h, grow_mm: float, soft: float) -> np.ndarray:
        """The pericardial sac: the end-diastolic heart grown by `grow_mm`; it does not beat."""
        lv = np.clip((self._epi_radius_ed(theta, h, grow_mm) - np.hypot(u, v)) * soft + 0.5, 0, 1)
        centre_u, semi_u, semi_v = self._rv_ellipse(h, self.rv_scale(0.0))
        grow = RV_FREE_WALL_MM + grow_mm
        rv = self._soft_ellipse(u - centre_u, v, semi_u + grow, semi_v + grow, soft)
        rv = np.where(semi_u > 0.5, rv, 0)
        return np.maximum(lv, rv)


class PlaneSampler:
    """Samples one heart on one fixed set of points across phases. What does not beat (angles,
    regional factors, the pericardial sac) is computed once here, not once per phase."""

    def __init__(
        self, model: HeartModel, u: np.ndarray, v: np.ndarray, h: np.ndarray, pixel_mm: float
    ):
        self.model, self.u, self.v, self.h = model, u, v, h
        self.soft = 1.0 / pixel_mm
        self.r = np.hypot(u, v)
        self._cavity_points = self.r < model.radius_ed
        self.theta = np.arctan2(v, u)
        p = model.params
        self.motion = model.motion_factor(self.theta)
        film = p.effusion_mm or 1.0
        self.sac = model._sac(u, v, self.theta, h, film, self.soft)
        self.sac_wall = model._sac(u, v, self.theta, h, film + PERICARDIUM_MM, self.soft)
        # Papillary muscles (anterolateral, posteromedial): dark spots inside the cavity that
        # clinical volumetry counts as cavity, as many laboratories do.
        self.papillary_dirs = [
            (np.cos(np.deg2rad(a)), np.sin(np.deg2rad(a))) for a in (55.0, 305.0)
        ]

    def _inside(self, boundary: np.ndarray) -> np.ndarray:
        return np.clip((boundary - self.r) * self.soft + 0.5, 0, 1)

    def at(self, phase: float) -> HeartFractions:
        """Tissue fractions of every point at one cycle phase in [0, 1)."""
        model, u, v = self.model, self.u, self.v
        ejected = float(model.ejected_fraction(np.asarray(phase)))
        stretch = model.stretch(ejected)
        h_ed = self.h * stretch  # apex-anchored longitudinal compression
        endo_r, epi_r = model.lv_radii(self.theta, h_ed, stretch, ejected, self.motion)
        lv_blood = self._inside(endo_r)
        lv_outer = self._inside(epi_r)
        papillary = self._papillary(endo_r, h_ed) * lv_blood

        rv_scale = model.rv_scale(ejected)
        centre_u, semi_u, semi_v = model._rv_ellipse(h_ed, rv_scale)
        rv_blood = model._rv_blood(u, v, h_ed, rv_scale, lv_outer, self.soft)
        wall = RV_FREE_WALL_MM
        rv_outer = model._soft_ellipse(u - centre_u, v, semi_u + wall, semi_v + wall, self.soft)
        rv_outer = np.where(semi_u > 0.5, rv_outer, 0)
        ventricles = np.maximum(lv_outer, rv_outer)
        atrial = model._atria(u, v, h_ed, ejected, self.soft) * (1 - ventricles)
        heart = np.clip(ventricles + atrial, 0, 1)
        fluid = np.clip(self.sac - heart, 0, 1)
        pericardium = np.clip(self.sac_wall - np.maximum(self.sac, heart), 0, 1)
        myocardium = np.clip(heart - lv_blood - rv_blood - atrial, 0, 1)
        return HeartFractions(
            lv_blood=lv_blood.astype(np.float32),
            papillary=papillary.astype(np.float32),
            rv_blood=rv_blood.astype(np.float32),
            atrial_blood=atrial.astype(np.float32),
            myocardium=myocardium.astype(np.float32),
            fluid=fluid.astype(np.float32),
            pericardium=pericardium.astype(np.float32),
        )

    def _papillary(self, endo_r: np.ndarray, h_ed: np.ndarray) -> np.ndarray:
        """Two round muscles at 70 % of the cavity radius, mid-ventricular levels only. Only
        points inside the diastolic cavity radius are evaluated (a fraction of the plane)."""
        length = self.model.length_ed
        level = (h_ed > 0.2 * length) & (h_ed < 0.75 * length)
        spots = np.zeros_like(self.r)
        candidates = self._cavity_points & level
        if not candidates.any():
            return spots
        u, v = self.u[candidates], self.v[candidates]
        reach = 0.7 * endo_r[candidates] if np.ndim(endo_r) else 0.7 * endo_r
        radius = 0.16 * self.model.radius_ed
        inside = np.zeros_like(u)
        for cos_a, sin_a in self.papillary_dirs:
            distance = np.hypot(u - reach * cos_a, v - reach * sin_a)
            inside = np.maximum(inside, np.clip((radius - distance) * self.soft + 0.5, 0, 1))
        spots[candidates] = inside
        return spots


def measure_volumes_ml(
    model: HeartModel, phases: np.ndarray, voxel_mm: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """LV and RV cavity volumes (mL) at each phase, summed from the rendered fractions on a
    voxel grid that covers the heart (the ground truth a perfect reader would measure)."""
    outer = model.radius_ed + model.params.wall_mm
    span = np.arange(-3.2 * outer, 1.6 * outer, voxel_mm, dtype=np.float32)
    across = np.arange(-1.6 * outer, 1.6 * outer, voxel_mm, dtype=np.float32)
    heights = np.arange(-5.0, model.length_ed + 10, voxel_mm, dtype=np.float32)
    h, u, v = np.meshgrid(heights, span, across, indexing="ij")
    sampler = model.sampler(u, v, h, voxel_mm)
    lv, rv = np.zeros(len(phases)), np.zeros(len(phases))
    for t, phase in enumerate(phases):
        fractions = sampler.at(float(phase))
        lv[t] = float(fractions.lv_blood.sum()) * voxel_mm**3 / 1000
        rv[t] = float(fractions.rv_blood.sum()) * voxel_mm**3 / 1000
    return lv, rv

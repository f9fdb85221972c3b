"""Real labelled cine CMR: ACDC subjects (NIfTI, ED and ES frames) as studies with impressions.

Training-side only: the gateway reads DICOM. A subject becomes the same `CineStudy` that DICOM
ingestion gives (a two-phase, key-frame study), so the one preprocessing function applies.
"""

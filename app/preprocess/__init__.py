"""CineStudy -> model input arrays: the one preprocessing function training and serving share."""

from app.preprocess.pipeline import ModelInput, preprocess_study
from app.preprocess.spec import InputSpec

__all__ = ["InputSpec", "ModelInput", "preprocess_study"]

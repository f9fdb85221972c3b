"""The configured DICOMweb sources, and a caller's reference to a study in one of them.

A caller names a source; only the operator's configuration says where it is. A reference
never carries a URL, so the gateway can be made to fetch from nowhere else (SSRF).
"""

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

SOURCE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Digits and dots, as the DICOM standard writes UIDs; real archives keep some with leading
# zeros in a component (the Sunnybrook study does), which are accepted.
UID_PATTERN = r"^[0-9]+(\.[0-9]+)*$"


class DicomwebSource(BaseModel):
    """One PACS (or VNA) the gateway may read studies from and store results to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl = Field(description="DICOMweb base URL, e.g. https://pacs.example/dicom-web")
    username: str | None = Field(None, description="HTTP basic authentication, with password")
    password: SecretStr | None = None
    token: SecretStr | None = Field(None, description="bearer token (instead of basic auth)")
    timeout_s: float = Field(30.0, gt=0, description="connect and read timeout of one call")

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> "DicomwebSource":
        if self.token is not None and self.username is not None:
            raise ValueError("give either a bearer token or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic authentication needs both username and password")
        return self


class StudyReference(BaseModel):
    """A study held by a configured DICOMweb source."""

    model_config = ConfigDict(extra="forbid")

    dicomweb: str = Field(
        pattern=SOURCE_NAME_PATTERN,
        description="name of a configured DICOMweb source (CMR_DICOMWEB_SOURCES); never a URL",
        examples=["pacs"],
    )
    study_instance_uid: str = Field(
        min_length=1, max_length=64, pattern=UID_PATTERN, examples=["1.2.840.113619.2.1.1"]
    )

"""JSON bodies of the study routes when the study is referenced in a PACS, not uploaded.

`{"study": {"dicomweb": "<source name>", "study_instance_uid": "…"}, …}`: the other fields are
the multipart form's, typed. `fields()` gives them as the form's text fields, so that one
validation path (app/api/conditions.py, app/api/routes/archive.py) serves both inputs.
"""

import json

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from app.api.schemas import CustomCondition
from app.archive.models import SearchFilters
from app.dicomweb.models import StudyReference
from app.reporting.links import FhirLinks
from app.zeroshot.condition_sets import Mode

_STUDY = Field(description="the study, in a DICOMweb source the gateway is configured with")
_REFERENCE_EXAMPLE = {"dicomweb": "pacs", "study_instance_uid": "1.2.840.113619.2.1.1"}


class ReferenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    study: StudyReference = _STUDY

    def fields(self) -> dict[str, str]:
        """The fields other than `study` that were given, as multipart text fields."""
        values = self.model_dump(mode="json", exclude={"study", "store"}, exclude_none=True)
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


class DiagnoseByReference(ReferenceBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"study": _REFERENCE_EXAMPLE, "mode": "findings", "store": True}]
        },
    )

    conditions: str | list[CustomCondition] | None = Field(
        None, description="a condition-set name or your own conditions (as in the form)"
    )
    mode: Mode | None = None
    explain: bool | None = Field(None, description="as the form's `explain`")
    measure: bool | None = Field(None, description="as the form's `measure`")
    store: bool = Field(
        False,
        description="also store the result as a DICOM SR in the study's source (STOW-RS)",
    )


class ReportByReference(ReferenceBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"study": _REFERENCE_EXAMPLE}]}
    )

    similar_cases: int | None = Field(None, ge=1, description="similar cases to cite")
    fhir: FhirLinks | None = Field(None, description="as the form's `fhir`")
    fhir_submit: bool | None = Field(None, description="as the form's `fhir_submit`")


class SearchByReference(ReferenceBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"study": _REFERENCE_EXAMPLE, "top_k": 5}]},
    )

    top_k: int | None = Field(None, ge=1, description="results wanted (default 10)")
    filters: SearchFilters | None = None


REFERENCE_BODIES: tuple[type[ReferenceBody], ...] = (
    DiagnoseByReference,
    ReportByReference,
    SearchByReference,
)


def reference_components() -> dict[str, dict]:
    """The OpenAPI component schemas of the reference bodies (and the models they use)."""
    _, schema = models_json_schema(
        [(body, "validation") for body in REFERENCE_BODIES],
        ref_template="#/components/schemas/{model}",
    )
    return schema["$defs"]

"""What the gateway serves: the model card and the shipped condition sets."""

from fastapi import APIRouter

from app.api.deps import PipelineDep
from app.api.responses import problems
from app.api.schemas import ConditionSetList, ConditionSetSummary
from app.errors import UnknownConditionSetError
from app.model_card import ModelCard
from app.zeroshot.condition_sets import ConditionSet, prompt_set_hash

router = APIRouter(prefix="/v1", tags=["catalog"])

_CARD_EXAMPLE = {
    "name": "cmr-clip",
    "version": "0.4.0",
    "intended_use": "Research and decision support only: … not for diagnostic use on its own.",
    "files": {"cmr_video_encoder/1/model.onnx": "a8abd3826b22…"},
    "input_spec": {
        "sax_slices": 8,
        "frames": 16,
        "pixel_mm": 2.4,
        "crop_px": 64,
        "lax_views": ["4ch"],
        "intensity_percentiles": [1.0, 99.5],
    },
    "text": {"tokenizer": "tokenizer.json", "max_tokens": 48, "max_sentences": 12},
    "embed_dim": 128,
    "logit_scale": 13.0,
    "calibration": {
        "temperature": 1.0,
        "findings": {"pericardial_effusion": {"slope": 24.0, "intercept": -0.4}},
        "method": "Platt per finding, fit on the validation split",
    },
    "training_data": "synthetic cine CMR studies from three sites",
    "evaluation": {"in_distribution": {"macro_auroc": 0.956}},
}
_SET_EXAMPLE = {
    "name": "cardiac_findings_v1",
    "version": "1.1.0",
    "mode": "findings",
    "conditions": [
        {
            "label": "pericardial_effusion",
            "description": "Fluid in the pericardial sac.",
            "prompts": ["pericardial effusion"],
            "negative_prompts": ["no pericardial effusion"],
        }
    ],
}


def _example(example: dict) -> dict[int | str, dict]:
    return {200: {"content": {"application/json": {"example": example}}}}


@router.get(
    "/model",
    response_model=ModelCard,
    summary="The model card: version, file digests, input spec, calibration, evaluation",
    responses={**_example(_CARD_EXAMPLE), **problems(401)},
)
async def get_model(pipeline: PipelineDep) -> ModelCard:
    return pipeline.card


@router.get(
    "/condition-sets",
    response_model=ConditionSetList,
    summary="The shipped, versioned condition sets",
    responses=problems(401),
)
async def list_condition_sets(pipeline: PipelineDep) -> ConditionSetList:
    return ConditionSetList(
        condition_sets=[
            ConditionSetSummary(
                name=s.name,
                version=s.version,
                mode=s.mode,
                labels=list(s.labels),
                sha256=prompt_set_hash(s),
            )
            for s in pipeline.condition_sets.values()
        ]
    )


@router.get(
    "/condition-sets/{name}",
    response_model=ConditionSet,
    summary="One condition set with its prompt ensembles (the YAML the evaluation uses)",
    responses={**_example(_SET_EXAMPLE), **problems(401, 404)},
)
async def get_condition_set(name: str, pipeline: PipelineDep) -> ConditionSet:
    if name not in pipeline.condition_sets:
        raise UnknownConditionSetError(f"no condition set named {name!r}")
    return pipeline.condition_sets[name]

"""POST /v1/embed/text and /v1/embed/study: the model's unit vectors, for search and apps."""

from fastapi import APIRouter, Request

from app.api.deps import MetricsDep, PipelineDep, RequestId
from app.api.responses import model_info, problems
from app.api.schemas import StudyEmbeddingResponse, TextEmbeddingRequest, TextEmbeddingResponse
from app.api.studies import study_summary, study_upload
from app.api.uploads import study_form_schema
from app.errors import InvalidTextsError

router = APIRouter(prefix="/v1/embed", tags=["embeddings"])


@router.post(
    "/text",
    response_model=TextEmbeddingResponse,
    summary="Unit embeddings of impressions or phrases",
    responses=problems(401, 413, 422, 502, 503, 504),
)
async def embed_text(
    body: TextEmbeddingRequest, pipeline: PipelineDep, metrics: MetricsDep, request_id: RequestId
) -> TextEmbeddingResponse:
    settings = pipeline.settings
    if len(body.texts) > settings.max_texts:
        raise InvalidTextsError(f"at most {settings.max_texts} texts in one request")
    if any(len(text) > settings.max_text_chars for text in body.texts):
        raise InvalidTextsError(f"a text has at most {settings.max_text_chars} characters")
    vectors = await pipeline.text.embed(body.texts, request_id)
    return TextEmbeddingResponse(
        request_id=request_id,
        model=model_info(pipeline.card),
        dimensions=int(vectors.shape[1]),
        embeddings=vectors.tolist(),
    )


@router.post(
    "/study",
    response_model=StudyEmbeddingResponse,
    summary="Unit embedding of a cine CMR study, and of each of its clips",
    openapi_extra=study_form_schema(),
    responses=problems(400, 401, 413, 415, 422, 502, 503, 504),
)
async def embed_study(
    request: Request, pipeline: PipelineDep, metrics: MetricsDep, request_id: RequestId
) -> StudyEmbeddingResponse:
    async with study_upload(request, pipeline, metrics, request_id) as upload:
        prepared, embeddings = await upload.encode()
    return StudyEmbeddingResponse(
        request_id=request_id,
        model=model_info(pipeline.card),
        dimensions=int(embeddings.study.shape[1]),
        study=study_summary(prepared),
        embedding=embeddings.study[0].tolist(),
        clip_embeddings=embeddings.clips[0].tolist(),
    )

"""The job worker: one asyncio task of the gateway process that runs queued jobs one at a time
through the same pipeline and result builders as /v1/diagnose and /v1/report, then records
the result, writes the audit record, deletes the job's upload and calls its webhook."""

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from app.api.archive_state import usable_archive
from app.api.audit import AuditContext
from app.api.conditions import resolve_scoring_set
from app.api.job_schemas import JobView
from app.api.study_results import diagnose_response, report_result
from app.archive.models import CaseArchive
from app.audit.trail import AuditRecord, AuditTrail, now
from app.config import ServingSettings
from app.dicom.identifiers import IdentifierSniffer
from app.errors import CmrError, OverloadedError
from app.jobs.models import JobError, JobRecord
from app.jobs.spool import UploadSpool
from app.jobs.store import JobStore
from app.jobs.webhook import deliver
from app.pipeline.prepare import elapsed_ms
from app.pipeline.service import Pipeline

log = logging.getLogger("app.jobs")
IDLE_POLL_S = 5.0
SLOT_RETRY_S = 0.5


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        spool: UploadSpool,
        pipeline: Pipeline,
        audit: AuditTrail,
        archive: Callable[[], CaseArchive | None],
    ) -> None:
        self.store = store
        self.spool = spool
        self.pipeline = pipeline
        self.audit = audit
        self.archive = archive
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Recover what a previous process left (running jobs requeued or failed, stray
        uploads deleted, webhooks not yet delivered sent), then start the worker."""
        undelivered = await asyncio.to_thread(self.store.recover)
        await asyncio.to_thread(self.spool.sweep, await asyncio.to_thread(self.store.active_ids))
        for record in undelivered:
            self._notify_webhook(record.id)
        self._task = asyncio.create_task(self._work(), name="jobs")

    async def stop(self) -> None:
        for task in [self._task, *self._deliveries]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.to_thread(self.store.close)

    def wake(self) -> None:
        self._wake.set()

    async def _work(self) -> None:
        while True:
            record = await asyncio.to_thread(self.store.claim)
            if record is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)
                continue
            try:
                await self._run(record)
            except asyncio.CancelledError:  # a graceful stop: the attempt does not count
                await asyncio.to_thread(self.store.requeue, record.id)
                raise

    async def _run(self, record: JobRecord) -> None:
        """Run the job; then, in this order, its audit record, its result and its upload's
        deletion, so that a result anyone can read is audited, and a crash before the result
        is stored leaves the upload for the retry."""
        context = AuditContext("execute", study=record.study, job_id=record.id)
        body: dict[str, Any] | None = None
        error: JobError | None = None
        try:
            body, media_type = await self._execute(record, context)
        except CmrError as exc:
            error = JobError(code=exc.code, status=exc.http_status, detail=exc.message)
        except Exception as exc:  # the type only: a message may quote a DICOM value
            log.error("job failed", extra={"job_id": record.id, "error_type": type(exc).__name__})
            error = JobError(code="internal_error", status=500, detail="internal error")
        self.audit.append(
            AuditRecord(
                time=now(),
                request_id=record.id,
                caller=record.caller,
                action="execute",
                route=f"job:{record.request.task}",
                study=context.study,
                job_id=record.id,
                model_version=self.pipeline.card.version,
                status=200 if error is None else error.status,
                outcome="success" if error is None else error.code,
                result_sha256=None if body is None else JobView.result_sha256_of(body),
            )
        )
        if body is not None:
            await asyncio.to_thread(self.store.succeed, record.id, body, media_type, context.study)
        else:
            assert error is not None
            await asyncio.to_thread(self.store.fail, record.id, error, context.study)
        await asyncio.to_thread(self.spool.delete, record.id)
        log.info(
            "job done", extra={"job_id": record.id, "outcome": error.code if error else "success"}
        )
        self._notify_webhook(record.id)

    async def _execute(
        self, record: JobRecord, context: AuditContext
    ) -> tuple[dict[str, Any], str]:
        """The job's request, run -> (result body, media type). Raises the routes' CmrErrors."""
        pipeline, request = self.pipeline, record.request
        started = time.perf_counter()
        uploads = await asyncio.to_thread(self.spool.read, record.id)
        read_ms = elapsed_ms(started)
        while True:
            try:
                async with pipeline.slot():
                    prepared = await pipeline.prepare(uploads)
                    prepared.timings_ms = {"receive": read_ms, **prepared.timings_ms}
                    uid = prepared.outline.study_instance_uid
                    context.study = self.audit.study_key(uid)
                    embeddings = await pipeline.encode_study(prepared, record.id)
                    if request.task == "diagnose":
                        scoring_set = resolve_scoring_set(
                            pipeline, request.conditions, request.mode
                        )
                        response, _ = await diagnose_response(
                            pipeline, prepared, embeddings, scoring_set, record.id
                        )
                        return response.model_dump(mode="json"), "application/json"
                    assert request.report is not None
                    sniffer = IdentifierSniffer()
                    for upload in uploads:
                        sniffer.add(upload)
                    return await report_result(
                        pipeline,
                        usable_archive(self.archive()),
                        prepared,
                        embeddings,
                        request.report,
                        sniffer.of_study(uid),
                        record.id,
                    )
            except OverloadedError:  # the synchronous routes hold every slot: wait for one
                await asyncio.sleep(SLOT_RETRY_S)

    def _notify_webhook(self, job_id: str) -> None:
        task = asyncio.create_task(self._deliver(job_id))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, job_id: str) -> None:
        record = await asyncio.to_thread(self.store.get, job_id)
        secret = self.pipeline.settings.jobs_webhook_secret
        if record is None or record.request.webhook_url is None or secret is None:
            return
        body = JobView.of(record).model_dump_json().encode()
        delivered = await deliver(
            record.request.webhook_url, body, secret.get_secret_value().encode()
        )
        await asyncio.to_thread(
            self.store.set_webhook, job_id, "delivered" if delivered else "failed"
        )


async def open_jobs(
    settings: ServingSettings,
    pipeline: Pipeline,
    audit: AuditTrail,
    archive: Callable[[], CaseArchive | None],
) -> JobRunner | None:
    """The started job runner on CMR_JOBS_DIR, or None (jobs answer 503) if the folder cannot
    be used: diagnosis and the archive keep working."""
    try:
        store = await asyncio.to_thread(JobStore, settings.jobs_dir / "jobs.sqlite")
        spool = await asyncio.to_thread(UploadSpool, settings.jobs_dir)
    except (OSError, sqlite3.Error) as exc:
        log.warning("jobs unavailable", extra={"error_type": type(exc).__name__})
        return None
    runner = JobRunner(store, spool, pipeline, audit, archive)
    await runner.start()
    return runner

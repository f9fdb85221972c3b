"""Where the uploads of queued jobs wait: `<jobs_dir>/uploads/<job id>/`, one file per uploaded
file, named by its position (an uploaded file name may carry patient identifiers). A folder is
written as `<id>.partial` while the upload streams and renamed once the job is queued, so a
crash never leaves a job with half its study; the runner deletes it when the job has run."""

import shutil
from pathlib import Path

from app.dicom.identifiers import IdentifierSniffer
from app.dicom.sources import Upload

_PARTIAL = ".partial"


class UploadSpool:
    def __init__(self, jobs_dir: Path) -> None:
        self.root = jobs_dir / "uploads"
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def writer(self, job_id: str) -> "SpoolWriter":
        return SpoolWriter(self.root / (job_id + _PARTIAL), self.folder(job_id))

    def read(self, job_id: str) -> list[Upload]:
        return [(p.name, p.read_bytes()) for p in sorted(self.folder(job_id).iterdir())]

    def delete(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def sweep(self, active_ids: set[str]) -> None:
        """Delete what a crash left: partial folders, and folders of no queued or running
        job (one failed at recovery, one finished just before its folder was deleted)."""
        for path in self.root.iterdir():
            if path.name not in active_ids:
                shutil.rmtree(path, ignore_errors=True)


class SpoolWriter:
    """Writes one upload's files as they arrive (an `on_file` of read_form)."""

    def __init__(self, partial: Path, final: Path) -> None:
        self.partial = partial
        self.final = final
        self.files = 0
        self.sniffer = IdentifierSniffer()
        partial.mkdir()

    def add(self, upload: Upload) -> None:
        self.sniffer.add(upload)
        (self.partial / f"{self.files:05d}").write_bytes(upload[1])
        self.files += 1

    def commit(self) -> None:
        self.partial.rename(self.final)

    def discard(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)
        shutil.rmtree(self.final, ignore_errors=True)

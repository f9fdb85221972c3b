"""Helpers of the job tests (imported by name)."""

import time
from collections.abc import Callable
from pathlib import Path

import httpx

FINISHED = ("succeeded", "failed")


def wait_for_job(
    get: Callable[[str], httpx.Response],
    location: str,
    states: tuple[str, ...] = FINISHED,
    timeout_s: float = 120,
) -> dict:
    """Poll GET `location` until the job is in one of `states`; its last view."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = get(location)
        assert response.status_code == 200, response.text
        view = response.json()
        if view["state"] in states:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {view['state']} after {timeout_s} s")
        time.sleep(0.05)


def no_uploads_left(jobs_dir: Path, timeout_s: float = 10) -> bool:
    """Whether the jobs' upload folder empties within `timeout_s`: a job's upload is deleted
    just after its result is recorded (a crash in between must not lose the study)."""
    deadline = time.monotonic() + timeout_s
    while any((jobs_dir / "uploads").iterdir()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

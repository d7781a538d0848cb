"""The ``transcribe_audio`` task: plays a simulator profile's steps and publishes each one.

``acks_late`` + ``reject_on_worker_lost``: a worker killed mid-task leaves the message unacked, so the
broker redelivers it. The rerun uses the same task id, so its publish ids are the same and every step that
already went out is a no-op: the client sees the job continue, not restart. An exception publishes
``failed`` with a short message; the traceback goes to the worker log, never to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from reference_app.job_runs import run_job_sync
from reference_app.settings import get_settings
from reference_app.worker.publisher import StatusPublisher
from sse_contract.jobs import JobParams
from sse_contract.status import StatusChange

log = logging.getLogger(__name__)

_publisher: StatusPublisher | None = None


def publisher() -> StatusPublisher:
    global _publisher
    if _publisher is None:
        settings = get_settings()
        if not settings.redis_url:
            raise RuntimeError("REDIS_URL is not set")
        _publisher = StatusPublisher(
            settings.redis_url, maxlen=settings.status_stream_maxlen, ttl_s=settings.status_ttl_s
        )
    return _publisher


@shared_task(bind=True, name="transcribe_audio", acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
def transcribe_audio(self: Task, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    pub = publisher()
    run_id = str(self.request.id)
    latest = pub.latest(session_id)
    if latest is not None and latest.terminal:
        log.info("session %s already finished (%s); nothing to do", session_id, latest.status)
        return {"session_id": session_id, "status": latest.status.value}
    try:
        final = run_job_sync(pub.publish, session_id, JobParams.model_validate(params), run_id)
    except Exception:
        log.exception("transcription of session %s failed", session_id)
        failed = StatusChange("failed", latest.progress if latest else 0,
                              "Transcription failed: internal error (see worker log)")
        pub.publish(session_id, failed, f"{run_id}:error")
        raise
    return {"session_id": session_id, "status": final.status}

"""The Celery app, configured from settings. Kept apart from the tasks so the API can send tasks by
name without importing worker code."""

from __future__ import annotations

from celery import Celery


def make_celery(broker_url: str, visibility_timeout_s: int = 3600) -> Celery:
    """``visibility_timeout_s``: how long an unacked task (its worker died) waits before redelivery."""
    app = Celery("sse_harness", broker=broker_url, backend=broker_url, include=["reference_app.worker.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout_s,
            # kombu looks for unacked messages past the visibility timeout only every interval x throttle
            # seconds (10 x 10 by default): 100 s on top of a short timeout. Look every tenth of it (1-10 s).
            "unacked_restore_interval": max(1, min(10, visibility_timeout_s // 10)),
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
        task_track_started=True,
    )
    return app

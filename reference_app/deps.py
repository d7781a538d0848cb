"""Typed dependency aliases: routers declare what they need, the app state provides it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, Request

from reference_app.settings import Settings

if TYPE_CHECKING:
    from reference_app.bus.protocol import StatusBus
    from reference_app.job_queue import JobQueue
    from reference_app.metrics import Metrics
    from reference_app.stream_registry import StreamRegistry


def get_settings_dep(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_bus(request: Request) -> StatusBus:
    return cast("StatusBus", request.app.state.bus)


def get_jobs(request: Request) -> JobQueue:
    return cast("JobQueue", request.app.state.jobs)


def get_metrics(request: Request) -> Metrics:
    return cast("Metrics", request.app.state.metrics)


def get_streams(request: Request) -> StreamRegistry:
    return cast("StreamRegistry", request.app.state.streams)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
BusDep = Annotated["StatusBus", Depends(get_bus)]
JobsDep = Annotated["JobQueue", Depends(get_jobs)]
MetricsDep = Annotated["Metrics", Depends(get_metrics)]
StreamsDep = Annotated["StreamRegistry", Depends(get_streams)]

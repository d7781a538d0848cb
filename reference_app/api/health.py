from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from reference_app.deps import BusDep, MetricsDep, StreamsDep

router = APIRouter(tags=["ops"])


@router.get("/healthz", responses={503: {"description": "Redis or the shared subscriber is down"}})
async def healthz(bus: BusDep, streams: StreamsDep) -> JSONResponse:
    health: dict[str, Any] = await bus.healthy()
    body = {
        "status": "ok" if health["ok"] else "degraded",
        "redis": health["redis"],
        "subscriber": health["subscriber"],
        "open_streams": streams.open_count(),
    }
    return JSONResponse(body, status_code=200 if health["ok"] else 503)


@router.get("/metrics", response_class=Response)
async def metrics(m: MetricsDep) -> Response:
    return Response(m.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

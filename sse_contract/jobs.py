"""The body of ``POST /api/v1/sessions/{id}/transcribe``: which fake job to run and how fast.

Owned by the contract, not by the simulators, because the API validates it, the checker and the load
harness send it, and the worker reads it.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PROFILE_NAMES", "JobParams", "ProfileName"]

ProfileName = Literal["steady", "bursty", "stall", "fail_at", "long", "realistic"]
PROFILE_NAMES: tuple[str, ...] = get_args(ProfileName)


_INTEGER_FIELDS = frozenset({"steps", "interval_ms", "fail_at", "seed"})


class JobParams(BaseModel):
    """What a transcription request may ask for; also the body of ``POST .../transcribe``."""

    # strict: pydantic's lax mode turns ``"fail_at": true`` into 1 and ``"5"`` into 5, which the published
    # schema (integer) forbids; schemathesis found the disagreement. Strict mode makes the validator and the
    # schema agree (tests/asgi/test_job_params_strict.py).
    model_config = ConfigDict(extra="forbid", strict=True)

    profile: ProfileName = "steady"
    steps: int = Field(default=20, ge=1, le=5000, description="progress updates before the end")
    interval_ms: int = Field(default=200, ge=0, le=60_000, description="pause between updates")
    fail_at: int | None = Field(default=None, ge=1, le=5000, description="fail at this step instead")
    seed: int | None = Field(default=None, description="makes jittered profiles repeatable")
    stall_s: float = Field(default=30.0, ge=0, le=3600, description="the silence of the stall profile")
    audio_duration_s: float = Field(default=600.0, gt=0, le=36_000, description="drives 'realistic'")
    speed: float = Field(default=1.0, gt=0, le=1000, description="realistic: audio seconds per wall ms x1000")

    @model_validator(mode="before")
    @classmethod
    def _json_integers(cls, data: Any) -> Any:
        """``938.0`` is an integer in JSON Schema (the published schema says ``integer``): take it as 938.
        Strict validation still refuses what the schema refuses (``true``, ``"5"``, ``1.5``)."""
        if isinstance(data, dict):
            return {k: int(v) if k in _INTEGER_FIELDS and isinstance(v, float) and v.is_integer() else v
                    for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _fail_within_steps(self) -> JobParams:
        if self.profile == "fail_at" and self.fail_at is None:
            raise ValueError("profile 'fail_at' needs fail_at (the step at which the job fails)")
        if self.fail_at is not None and self.fail_at > self.steps:
            raise ValueError(f"fail_at ({self.fail_at}) must be <= steps ({self.steps})")
        return self

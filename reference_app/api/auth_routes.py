from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from reference_app.auth import COOKIE_NAME, issue_token
from reference_app.deps import SettingsDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class DevLogin(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/dev-login", response_model=TokenOut,
             responses={400: {"description": "the body is not UTF-8 JSON"}, 404: {"description": "dev login disabled"}})
async def dev_login(body: DevLogin, response: Response, settings: SettingsDep) -> TokenOut:
    """Password-less login for the demo and tests; answers 404 unless ``AUTH_DEV_LOGIN=1``."""
    if not settings.auth_dev_login:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="dev login is disabled (AUTH_DEV_LOGIN=0)")
    token = issue_token(body.username, settings.auth_secret, settings.auth_token_ttl_s)
    response.set_cookie(
        COOKIE_NAME, token, max_age=settings.auth_token_ttl_s, httponly=True,
        secure=settings.auth_cookie_secure, samesite="lax", path="/",
    )
    return TokenOut(access_token=token)

"""render.yaml: a Blueprint Render accepts (the fields of Render's published Blueprint spec), commands that
exist, settings the app really reads and that start it in production mode, and shutdown timing that lets
a deploy move streams instead of killing them."""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

import pytest

from reference_app.app import create_app
from reference_app.settings import Settings
from tests.deploy.entrypoints import check_entry_point
from tests.deploy.files import RENDER, as_argv, load_yaml

pytestmark = pytest.mark.unit

BLUEPRINT = load_yaml(RENDER)
SERVICES: dict[str, dict[str, Any]] = {s["name"]: s for s in BLUEPRINT["services"]}
GROUPS: dict[str, list[dict[str, Any]]] = {g["name"]: g["envVars"] for g in BLUEPRINT.get("envVarGroups", [])}
API = next(s for s in SERVICES.values() if s["type"] == "web")
WORKER = next(s for s in SERVICES.values() if s["type"] == "worker")
KEYVALUE = next(s for s in SERVICES.values() if s["type"] == "keyvalue")

# Field names from Render's Blueprint specification (render.com/docs/blueprint-spec and its JSON schema):
# a misspelt field is silently ignored by nothing; Render rejects the Blueprint at sync time.
SERVER_FIELDS = {
    "type", "name", "region", "plan", "runtime", "repo", "branch", "image", "rootDir", "dockerCommand",
    "dockerContext", "dockerfilePath", "numInstances", "healthCheckPath", "scaling", "buildCommand",
    "startCommand", "preDeployCommand", "registryCredential", "domain", "domains", "envVars", "autoDeploy",
    "autoDeployTrigger", "initialDeployHook", "disk", "buildFilter", "previews", "maintenanceMode",
    "maxShutdownDelaySeconds", "ipAllowList", "renderSubdomainPolicy",
}
KEYVALUE_FIELDS = {"type", "name", "region", "ipAllowList", "plan", "previewPlan", "maxmemoryPolicy",
                   "persistenceMode"}
RUNTIMES = {"docker", "elixir", "go", "image", "node", "python", "ruby", "rust", "static"}
NOT_SETTINGS = {"PYTHON_VERSION"}  # read by Render's build, not by the app


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """The environment the service gets: its literal values and its groups' (generated secrets filled in
    the way Render generates them: a base64-encoded 256-bit value)."""
    env: dict[str, str] = {}
    for var in service.get("envVars", []):
        if "fromGroup" in var:
            env.update({v["key"]: str(v["value"]) for v in GROUPS[var["fromGroup"]]})
        elif "generateValue" in var:
            env[var["key"]] = base64.b64encode(secrets.token_bytes(32)).decode()
        elif "fromService" in var:
            env[var["key"]] = "redis://red-example:6379"
        else:
            env[var["key"]] = str(var["value"])
    return env


def test_every_field_is_a_blueprint_field() -> None:
    assert set(BLUEPRINT) <= {"services", "databases", "envVarGroups", "projects", "ungrouped", "previews",
                              "version"}
    for name, svc in SERVICES.items():
        allowed = KEYVALUE_FIELDS if svc["type"] == "keyvalue" else SERVER_FIELDS
        assert set(svc) <= allowed, f"{name}: unknown fields {sorted(set(svc) - allowed)}"
        if svc["type"] == "keyvalue":
            assert "ipAllowList" in svc, f"{name}: Render requires ipAllowList on Key Value"
        else:
            assert svc["runtime"] in RUNTIMES
            assert 1 <= svc.get("maxShutdownDelaySeconds", 30) <= 300
        for var in svc.get("envVars", []):
            sources = {"value", "generateValue", "fromService", "fromGroup", "fromDatabase", "sync"} & set(var)
            assert len(sources) == 1, f"{name}: env var {var} needs exactly one source"
    for group, variables in GROUPS.items():
        for var in variables:
            assert set(var) <= {"key", "value", "generateValue", "sync", "previewValue"}, f"{group}: {var}"


def test_references_point_at_services_and_groups_in_this_file() -> None:
    for name, svc in SERVICES.items():
        for var in svc.get("envVars", []):
            if "fromService" in var:
                ref = var["fromService"]
                assert ref["name"] in SERVICES, f"{name}: {var['key']} refers to unknown {ref['name']}"
                assert SERVICES[ref["name"]]["type"] == ref["type"]
                assert ref["property"] == "connectionString"
            if "fromGroup" in var:
                assert var["fromGroup"] in GROUPS, f"{name}: unknown group {var['fromGroup']}"
    assert env_of(API)["REDIS_URL"] and env_of(WORKER)["REDIS_URL"], "both services need REDIS_URL"


def test_start_and_build_commands_are_real() -> None:
    for svc in (API, WORKER):
        assert svc["buildCommand"] == "pip install .", "Render builds the package the repo defines"
        argv = [a.replace("$PORT", "10000") for a in as_argv(svc["startCommand"])]
        check_entry_point(argv, f"{svc['name']}.startCommand", in_image=False)
    assert as_argv(API["startCommand"])[:2] == ["sse-harness", "serve"]
    assert "--host 0.0.0.0 --port $PORT" in API["startCommand"], "Render routes to 0.0.0.0:$PORT"
    assert as_argv(WORKER["startCommand"])[:2] == ["sse-harness", "worker"]


def test_settings_are_real_and_start_the_api_in_production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable is a setting of reference_app/settings.py and the values pass its validation; with
    them the app builds (no dev login, a generated secret) and serves the health check path."""
    known = {name.upper() for name in Settings.model_fields}
    for svc in (API, WORKER):
        env = env_of(svc)
        unknown = set(env) - known - NOT_SETTINGS
        assert not unknown, f"{svc['name']}: {sorted(unknown)} are not settings"
    for key in list(os.environ):
        if key.upper() in known:
            monkeypatch.delenv(key)
    for key, value in env_of(API).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.auth_dev_login is False and settings.auth_cookie_secure is True
    app = create_app(settings)
    assert API["healthCheckPath"] in app.openapi()["paths"], "healthCheckPath is not a route of the API"


def test_a_deploy_drains_streams_within_the_shutdown_delay() -> None:
    settings = Settings.model_validate({k.lower(): v for k, v in env_of(API).items() if k not in NOT_SETTINGS})
    assert API["maxShutdownDelaySeconds"] > settings.sse_shutdown_grace_s + 5, (
        "Render must not SIGKILL the API before it has ended its streams and exited")
    assert settings.sse_heartbeat_s <= 30, "heartbeats far below Cloudflare's 100 s idle cut"
    assert API.get("numInstances", 1) >= 2, "one instance means every deploy or crash drops all streams at once"
    assert KEYVALUE["maxmemoryPolicy"] == "noeviction"
    assert KEYVALUE["ipAllowList"] == [], "Redis reachable only from inside Render"

#!/usr/bin/env python3
"""Container healthcheck: exit 0 when ``GET URL`` answers 200 within the timeout, else 1.

Why a script: the slim image has neither curl nor wget, and ``/healthz`` answers 503 when Redis or the
shared subscriber is down, which ``urllib`` raises as an error; both must read as "unhealthy" to Docker.
Standard library only, so it runs in any Python image.

    python deploy/healthcheck.py http://127.0.0.1:8000/healthz [--timeout 3]
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def check(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url} unreachable: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url", help="health URL, e.g. http://127.0.0.1:8000/healthz")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"not an http(s) URL: {args.url!r}")
    ok, detail = check(args.url, args.timeout)
    print(("healthy: " if ok else "unhealthy: ") + detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

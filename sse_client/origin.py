"""An HTTP origin parsed once: the fault proxy's upstream and the load harness's target."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Origin", "redact_url"]


@dataclass(frozen=True, slots=True)
class Origin:
    """``scheme://host:port/prefix`` of an http(s) URL, with the default port filled in."""

    scheme: str
    host: str
    port: int
    prefix: str  # the path without a trailing slash ("" for the root)

    @classmethod
    def parse(cls, url: str, *, what: str = "URL") -> Origin:
        """Raises ``ValueError`` naming ``what`` when ``url`` is not an absolute http(s) URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{what} must be an http:// or https:// URL, got {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"{what} has a bad port: {url!r}") from None
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the port only when it is not the scheme's default."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)[^/]*@", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, for logs and error messages (one helper for the app,
    the checker and the command line). Works on URLs that do not parse too (a port out of range), which are
    the ones error messages quote."""
    return _PASSWORD.sub(r"\1***@", url)

"""Placeholder: /openapi/v2 (filled in below)."""

from __future__ import annotations

from aiohttp import web

from ..errors import PathNotFound


def serve(request: web.Request, path: str) -> web.StreamResponse:
    raise PathNotFound()

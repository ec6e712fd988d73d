"""The routers of issue 12 (files, uploads, vector stores), registered together by ``api.app``."""

from __future__ import annotations

from api.routers import files, uploads, vector_store_files, vector_stores

FILE_ROUTERS = (files.router, uploads.router, vector_stores.router, vector_store_files.router)

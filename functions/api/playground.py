"""The browser playground: static HTML + JS (no build step) served at ``/playground``, outside ``/v1``, so it
loads without a key; every API call the page makes carries the key the user enters."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

PLAYGROUND_PATH = "/playground"
PLAYGROUND_DIRECTORY = Path(__file__).resolve().parent / "static" / "playground"


def mount_playground(app: FastAPI) -> None:
    app.mount(PLAYGROUND_PATH, StaticFiles(directory=PLAYGROUND_DIRECTORY, html=True), name="playground")

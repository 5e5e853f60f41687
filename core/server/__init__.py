"""`mycelial serve`: an HTTP API and a web page over named memories (FastAPI + uvicorn)."""
from core.server.app import create_app

__all__ = ["create_app"]

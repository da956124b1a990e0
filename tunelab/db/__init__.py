"""The run database: an embedded SecantusDB server, or any MongoDB named by URL."""

from __future__ import annotations

from pymongo.database import Database

from tunelab.db._client import client, database, ping, ping_client, redact
from tunelab.db._embedded import EmbeddedServer, ServerStatus
from tunelab.settings import Settings

__all__ = [
    "EmbeddedServer",
    "ServerStatus",
    "client",
    "connect",
    "database",
    "embedded_server",
    "mongo_url",
    "ping",
    "ping_client",
    "redact",
]


def embedded_server(settings: Settings) -> EmbeddedServer:
    return EmbeddedServer(settings.state_dir, settings.db_port)


def mongo_url(settings: Settings, *, start: bool = True, timeout: float = 5.0) -> str:
    """The URL of the database tunelab uses, checked to answer.

    With an external URL configured, nothing is started: an unreachable server
    raises TunelabError at once. Otherwise the embedded server is started on
    demand (``start=True``) or must already run.
    """
    if settings.mongo_url:
        ping(settings.mongo_url, timeout=timeout)
        return settings.mongo_url
    server = embedded_server(settings)
    if start:
        server.start()
    else:
        ping(server.url, timeout=timeout)
    return server.url


def connect(settings: Settings, *, start: bool = True) -> Database:
    """The run database, started on demand when embedded."""
    return database(mongo_url(settings, start=start), settings.db_name)

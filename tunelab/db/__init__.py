"""The run database: an embedded SecantusDB server, or any MongoDB named by URL."""

from __future__ import annotations

from pymongo.database import Database

from tunelab.db._client import client, open_shared_client, ping, ping_client, redact, shared_client
from tunelab.db._embedded import EmbeddedServer, ServerStatus
from tunelab.settings import Settings

__all__ = [
    "EmbeddedServer",
    "ServerStatus",
    "client",
    "configured_url",
    "connect",
    "embedded_server",
    "mongo_url",
    "ping",
    "ping_client",
    "redact",
]


def embedded_server(settings: Settings) -> EmbeddedServer:
    return EmbeddedServer(settings.state_dir, settings.db_port)


def configured_url(settings: Settings) -> str:
    """The URL of the database tunelab uses: the configured one, else the embedded server's (not checked)."""
    return settings.mongo_url or embedded_server(settings).url


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
    """The run database, on this process's one client for its URL.

    The first call for a URL starts the embedded server if needed (``start=True``)
    and pings the server: TunelabError naming the URL if it does not answer.
    Later calls reuse the open client.
    """
    url = configured_url(settings)
    if shared_client(url) is None and start and not settings.mongo_url:
        embedded_server(settings).start()
    return open_shared_client(url)[settings.db_name]

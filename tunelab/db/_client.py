"""Connecting to MongoDB, with errors a user can act on."""

from __future__ import annotations

import pymongo
import pymongo.errors
from pymongo.database import Database

from tunelab.errors import TunelabError


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def client(url: str, timeout: float = 5.0) -> pymongo.MongoClient:
    """A client that gives up on server selection after ``timeout`` seconds."""
    try:
        return pymongo.MongoClient(url, serverSelectionTimeoutMS=int(timeout * 1000), connect=False)
    except (pymongo.errors.ConfigurationError, pymongo.errors.InvalidURI, ValueError) as exc:
        raise TunelabError(f"invalid MongoDB URL {redact(url)}: {exc}") from None


def ping(url: str, timeout: float = 5.0) -> None:
    """Raise TunelabError naming the URL unless the server answers within ``timeout``."""
    with client(url, timeout) as probe:
        ping_client(probe, url)


def ping_client(mongo: pymongo.MongoClient, url: str) -> None:
    """Raise TunelabError naming ``url`` unless ``mongo`` gets an answer."""
    try:
        mongo.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        reason = str(exc).split(",")[0].split("(configured timeouts")[0].strip()
        raise TunelabError(f"cannot reach MongoDB at {redact(url)}: {reason}") from None


def database(url: str, name: str) -> Database:
    """The named database on ``url`` (connects lazily)."""
    return client(url)[name]

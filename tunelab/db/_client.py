"""Connecting to MongoDB, with errors a user can act on."""

from __future__ import annotations

import os

import pymongo
import pymongo.errors

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


_shared: dict[tuple[int, str], pymongo.MongoClient] = {}


def shared_client(url: str) -> pymongo.MongoClient | None:
    """This process's client for ``url``, or None if :func:`open_shared_client` has not made it yet."""
    return _shared.get((os.getpid(), url))  # keyed by pid too: a client must not cross a fork


def open_shared_client(url: str) -> pymongo.MongoClient:
    """This process's one client for ``url``: made and pinged on the first call, reused after."""
    mongo = shared_client(url)
    if mongo is None:
        mongo = client(url)
        ping_client(mongo, url)
        _shared[(os.getpid(), url)] = mongo
    return mongo

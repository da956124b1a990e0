"""A real Omniboard over a real database, started through `tunelab board` for a test."""

from __future__ import annotations

import json
import urllib.request
from base64 import b64encode

import pytest

from tests.conftest import free_port


def get(url: str, auth: tuple[str, str] | None = None):
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def listening_address(port: int) -> str:
    """The IPv4 address a socket LISTENs on ``port`` with, read from /proc/net/tcp."""
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if int(port_hex, 16) == port and state == "0A":
            return ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture
def start_board(tunelab_env):
    """Calls `tunelab board` with extra arguments on a free port; stops the board afterwards."""
    started = []

    def start(*args: str, expect_ok: bool = True):
        port = free_port()
        result = tunelab_env.cli("board", "--port", str(port), *args, timeout=300)
        if expect_ok:
            assert result.returncode == 0, result.stderr
        started.append(port)
        return port, result

    yield start
    tunelab_env.cli("board", "--stop")

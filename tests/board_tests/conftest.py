"""A real Omniboard over a real database, started through `tunelab board` for a test."""

from __future__ import annotations

import json
import urllib.request

import psutil
import pytest
from urllib3.util import make_headers

from tests.conftest import free_port


def get(url: str, auth: tuple[str, str] | None = None):
    request = urllib.request.Request(url, headers=make_headers(basic_auth=":".join(auth)) if auth else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def listening_address(port: int) -> str:
    """The IPv4 address a socket LISTENs on ``port`` with."""
    for conn in psutil.net_connections("tcp4"):
        if conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return conn.laddr.ip
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

"""Omniboard 2.16.1 from npm, installed once into a per-user cache.

The first ``tunelab board`` runs ``npm install`` (about a minute) into a
staging directory and renames it into place when it succeeded, so a broken-off
install is never mistaken for a good one. Later starts do not touch the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tunelab.errors import TunelabError

OMNIBOARD_VERSION = "2.16.1"


def cache_dir() -> Path:
    """``$TUNELAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/tunelab``, else ``~/.cache/tunelab``."""
    if os.environ.get("TUNELAB_CACHE_DIR"):
        return Path(os.environ["TUNELAB_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tunelab"


def install_dir() -> Path:
    return cache_dir() / f"omniboard-{OMNIBOARD_VERSION}"


def entry_point() -> Path:
    """Omniboard's server script inside the install."""
    return install_dir() / "node_modules" / "omniboard" / "dist" / "start.js"


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise TunelabError("Omniboard needs Node.js: install node and npm (e.g. apt-get install nodejs npm)")
    return node


def ensure_omniboard(on_output: Callable[[str], None] = lambda line: None) -> Path:
    """Omniboard's entry point, installing it first if it is not in the cache.

    ``on_output`` sees npm's output lines. Raises TunelabError (one line) when
    npm is missing or cannot install, e.g. with no route to its registry.
    """
    if entry_point().is_file():
        return entry_point()
    node_executable()
    npm = shutil.which("npm")
    if npm is None:
        raise TunelabError("installing Omniboard needs npm: install it (e.g. apt-get install npm)")
    staging = install_dir().with_name(f"{install_dir().name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = [
        npm,
        "install",
        "--prefix",
        str(staging),
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--fetch-retries=1",
        f"omniboard@{OMNIBOARD_VERSION}",
    ]
    output: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as npm_run:
        for line in npm_run.stdout:
            output.append(line.rstrip())
            on_output(line.rstrip())
    if npm_run.returncode != 0 or not (staging / "node_modules" / "omniboard").is_dir():
        shutil.rmtree(staging, ignore_errors=True)
        raise TunelabError(f"cannot install Omniboard {OMNIBOARD_VERSION} with npm: {_npm_reason(output)}")
    try:
        staging.rename(install_dir())
    except OSError:  # another command installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return entry_point()


def _npm_reason(output: list[str]) -> str:
    text = "\n".join(output)
    code = re.search(r"\bcode (E[A-Z_]+)", text)
    if code and code.group(1) in ("ECONNREFUSED", "ENOTFOUND", "ETIMEDOUT", "EAI_AGAIN", "ECONNRESET", "ENETUNREACH"):
        registry = os.environ.get("npm_config_registry") or _npm_registry()
        return f"npm cannot reach its registry {registry} ({code.group(1)}); connect to the network and run it again"
    last = [line.removeprefix("npm error ").strip() for line in output if line.strip()]
    return last[-1] if last else "npm failed with no output"


def _npm_registry() -> str:
    try:
        return subprocess.run(
            ["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(unknown)"

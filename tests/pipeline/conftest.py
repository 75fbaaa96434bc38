"""Fixtures for the pipeline tests: tiny params, per-test artifact roots, a local HTTP server."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from hdversion.pipeline.config import Params, Paths, load_paths

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILE = REPO_ROOT / "config" / "config.yaml"
# The real UCI Cleveland data, beside the repository (never copied into it).
SHARED_HEART_CSV = REPO_ROOT.parent / "shared" / "data" / "heart.csv"

# Small budgets: enough to exercise every code path in seconds, not to find good models.
TINY_OVERRIDES = {
    "tune": {
        "sklearn_trials": 2,
        "keras_trials": 2,
        "sklearn_max_epochs": 20,
        "keras_epochs": 5,
        "patience": 3,
    },
    "train": {"sklearn_max_epochs": 30, "keras_epochs": 10, "patience": 3},
}


@pytest.fixture
def tiny_params() -> Params:
    return Params().with_overrides(TINY_OVERRIDES)


def paths_under(root: Path) -> Paths:
    """The configured artifact layout, rooted in `root` instead of the repository."""
    return load_paths(CONFIG_FILE, root=root)


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return paths_under(tmp_path)


@pytest.fixture
def shared_heart_csv() -> Path:
    if not SHARED_HEART_CSV.is_file():
        pytest.skip(f"real data set not available at {SHARED_HEART_CSV}")
    return SHARED_HEART_CSV


Routes = dict[str, bytes]


class _RoutesHandler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[Routes] = {}

    def do_GET(self) -> None:
        body = self.routes.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean


@pytest.fixture
def http_server() -> Iterator[Callable[[Routes], str]]:
    """Start a server on 127.0.0.1 (free port) serving `routes`; returns its base URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(routes: Routes) -> str:
        handler = type("Handler", (_RoutesHandler,), {"routes": routes})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 whose port has nothing listening (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/heart.csv"


def leftover_files(root: Path) -> list[Path]:
    """Every file under `root`: after a failed stage there should be none it wrote."""
    return sorted(path for path in root.rglob("*") if path.is_file())

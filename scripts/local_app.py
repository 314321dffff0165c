"""The measurement scripts' shared set-up (page_cpu.py, step_latency.py): samviz's Streamlit server on a free
loopback port, and the Debian chromium they drive (playwright, never a downloaded browser)."""
from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
HEALTH_TIMEOUT_S = 60


@contextlib.contextmanager
def local_app(app: Path = ROOT / "app.py", log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Yields (base URL, server process) once `streamlit run app` answers its health check; stops it after. The
    server's output goes to log_path when given (a caller that reads its tracebacks), else nowhere."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(log_path, "w") if log_path is not None else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = f":\n{Path(log_path).read_text()}" if log_path is not None else ""
                    raise SystemExit(f"the app server did not start (exit code {server.poll()}){output}") from None
                time.sleep(0.2)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if log_path is not None:
            log.close()

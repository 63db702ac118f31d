"""Drive headless Chromium over the DevTools protocol on a pipe: no extra packages.

Chromium started with ``--remote-debugging-pipe`` reads JSON commands, each ended by a
NUL byte, on file descriptor 3 and writes answers and events on descriptor 4.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    # Debian's /usr/bin/chromium is a shell launcher; the binary itself keeps our pipes
    if Path("/usr/lib/chromium/chromium").exists():
        return "/usr/lib/chromium/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _above(fd: int, minimum: int) -> int:
    """A duplicate of ``fd`` on the lowest free descriptor >= minimum (never clobbering one in use)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, minimum)
    os.close(fd)
    return moved


class Browser:
    def __init__(self, executable: str) -> None:
        self._profile = tempfile.mkdtemp(prefix="metricli-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # move both ends above 4 first, so that placing them on 3 and 4 cannot clobber one
        to_child_r = _above(to_child_r, 5)
        from_child_w = _above(from_child_w, 5)

        def remap() -> None:  # the child must see them as fds 3 (its input) and 4 (its output)
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self._proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=remap,
            pass_fds=(3, 4, to_child_r, from_child_w),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        wanted = self._send(method, params, session)
        while True:
            message = self._read(timeout)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60.0) -> dict[str, Any]:
        for message in self.events:
            if message.get("method") == event:
                return message
        while True:
            message = self._read(timeout)
            self.events.append(message)
            if message.get("method") == event:
                return message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self._profile, ignore_errors=True)


def inspect_page(executable: str, page: Path, screenshot: Path) -> dict[str, Any]:
    """Open ``page``; return console errors, exceptions, failed loads and image sizes; save a screenshot."""
    browser = Browser(executable)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session=session)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        images = browser.call(
            "Runtime.evaluate",
            {
                "expression": "JSON.stringify([...document.images].map(i => ({alt: i.alt, complete: i.complete,"
                " width: i.naturalWidth, height: i.naturalHeight, shown: i.getBoundingClientRect().width})))",
                "returnByValue": True,
            },
            session=session,
        )["result"]["value"]
        shot = browser.call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        events = browser.events
        return {
            "images": json.loads(images),
            "console_errors": [
                e
                for e in events
                if e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error"
            ],
            "exceptions": [e for e in events if e.get("method") == "Runtime.exceptionThrown"],
            "log_errors": [
                e
                for e in events
                if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error"
            ],
            "failed_loads": [e for e in events if e.get("method") == "Network.loadingFailed"],
            "requests": [
                e["params"]["request"]["url"]
                for e in events
                if e.get("method") == "Network.requestWillBeSent"
            ],
        }
    finally:
        browser.close()

"""A small blocking HTTP client of the gateway, used by the command line and tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

Query = Mapping[str, str | int | float | None]
"""Query parameters; those set to ``None`` are left out."""


class GatewayRequestFailed(Exception):
    """Raised when the gateway answers with an error or cannot be reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.status else self.message


def segment(value: str) -> str:
    """``value`` escaped as one path segment (a ``/`` or ``..`` in an id stays inside it)."""
    return urllib.parse.quote(value, safe="")


class GatewayClient:
    """Calls the robofleet HTTP API."""

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def request(
        self, method: str, path: str, body: object = None, query: Query | None = None
    ) -> Any:
        """Send one request with ``body`` as JSON; return the decoded JSON answer.

        Raises :class:`GatewayRequestFailed` with the HTTP status and the error body's
        message, or with status 0 when the gateway cannot be reached within ``timeout_s``
        seconds.
        """
        url = path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        with self._open(method, url, headers, self.timeout_s, data) as response:
            return json.loads(response.read() or b"null")

    def events(
        self, path: str, last_event_id: str | None = None, read_timeout_s: float = 60.0
    ) -> Iterator[tuple[str | None, str, str]]:
        """Read the server-sent events of ``path``: yields ``(id, event, data)`` as each
        arrives (comments are skipped) and returns when the gateway ends the stream.

        ``last_event_id`` is sent as ``Last-Event-ID``; a read waits ``read_timeout_s`` at
        most (longer than the gateway's keep-alive interval). Raises
        :class:`GatewayRequestFailed` like :meth:`request`.
        """
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        with self._open("GET", path, headers, read_timeout_s) as response:
            event_id: str | None = None
            event, data = "message", list[str]()
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if data:
                        yield event_id, event, "\n".join(data)
                    event, data = "message", []
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "id":
                        event_id = value
                    elif name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)

    @contextmanager
    def _open(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        timeout_s: float,
        data: bytes | None = None,
    ) -> Iterator[Any]:
        """The gateway's answer to one request (``path`` with its query), open while the
        block reads it; the API key goes as a bearer token.

        An error answer, or a failure to reach or read the gateway within ``timeout_s``
        seconds (a whole stream included), raises :class:`GatewayRequestFailed`.
        """
        if self.api_key:
            headers = {**headers, "Authorization": f"Bearer {self.api_key}"}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as response:
                yield response
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except Exception:
                message = exc.reason
            raise GatewayRequestFailed(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            unreachable = f"cannot reach the gateway at {self.url}: {exc}"
            raise GatewayRequestFailed(0, unreachable) from None

    def submit(self, robot: dict[str, Any]) -> dict[str, Any]:
        """Submit a robot; returns its id and status."""
        return self.request("POST", "/v1/robots", robot)

    def robot(self, robot_id: str) -> dict[str, Any]:
        """Fetch one robot."""
        return self.request("GET", f"/v1/robots/{segment(robot_id)}")

    def robot_routing(self, robot_id: str) -> dict[str, Any]:
        """``GET /v1/robots/{id}/routing``: the robot's attempts with their routing decisions."""
        return self.request("GET", f"/v1/robots/{segment(robot_id)}/routing")

    def robots(self, **query: str | int | float | None) -> dict[str, Any]:
        """List robots."""
        return self.request("GET", "/v1/robots", query=query)

    def modules(self) -> list[dict[str, Any]]:
        """List modules."""
        return self.request("GET", "/v1/modules")["modules"]

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """``GET /readyz``: its HTTP status (200 ready, 503 not) and its detail document.

        Raises :class:`GatewayRequestFailed` when the gateway cannot be reached or answers
        something other than the document.
        """
        request = urllib.request.Request(self.url + "/readyz", method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise GatewayRequestFailed(exc.code, str(exc.reason)) from None
            try:
                return exc.code, json.loads(exc.read())
            except ValueError:
                raise GatewayRequestFailed(exc.code, "not a readiness document") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            unreachable = f"cannot reach the gateway at {self.url}: {exc}"
            raise GatewayRequestFailed(0, unreachable) from None

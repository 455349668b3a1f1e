"""An internal error answers the uniform body, with nothing internal in it; the log has it all."""

from __future__ import annotations

import logging
import sqlite3

from runtime.store._errors import StoreErrors
from tests.integration.gateway_app import local_gateway

SECRET_SQL = "SELECT id, payload FROM robots WHERE id = ?"
SECRET_PATH = "/work/main/runtime/store/sqlite.py"


async def test_internal_error_is_uniform_and_logged_with_the_request_id(tmp_path, caplog):
    async with local_gateway(tmp_path) as (client, admin_key, store):

        async def broken_get_robot(robot_id: str):
            raise RuntimeError(f"boom at {SECRET_PATH} running {SECRET_SQL}")

        store.get_robot = broken_get_robot  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR, logger="gateway.errors"):
            response = await client.get(
                "/v1/robots/0123abcd", headers={"Authorization": f"Bearer {admin_key}"}
            )
            body = await response.json()
        assert response.status == 500
        request_id = response.headers["X-Request-ID"]
        assert body == {
            "error": {
                "code": "internal",
                "message": "internal error; quote the request id",
                "request_id": request_id,
            }
        }
        text = await response.text()
        for leak in ("Traceback", SECRET_PATH, "SELECT", "RuntimeError", ".py"):
            assert leak not in text
        logged = [r for r in caplog.records if request_id in r.getMessage()]
        assert logged, "the error was not logged with its request id"
        assert logged[0].exc_info is not None
        assert SECRET_SQL in str(logged[0].exc_info[1])


async def test_store_error_hides_its_sql(tmp_path, caplog):
    async with local_gateway(tmp_path) as (client, admin_key, store):

        async def broken_list_robots(*args, **kwargs):
            with StoreErrors("sqlite").translated():
                raise sqlite3.OperationalError(f"near {SECRET_SQL!r}: syntax error")

        store.list_robots = broken_list_robots  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR, logger="gateway.errors"):
            response = await client.get(
                "/v1/robots", headers={"X-API-Key": admin_key, "X-Request-ID": "trace-me-42"}
            )
            body = await response.json()
        assert response.status == 500
        assert body["error"]["request_id"] == "trace-me-42"
        assert "SELECT" not in await response.text()
        assert any("trace-me-42" in r.getMessage() for r in caplog.records)

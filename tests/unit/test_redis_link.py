"""The Redis link: fall back once per outage, report it, reconnect and recover by itself."""

from __future__ import annotations

import asyncio
import logging

from runtime.redis_link import RedisLink, safe_url


class FlakyClient:
    """Answers ``ping`` only while ``answering``; counts pool resets."""

    def __init__(self) -> None:
        self.answering = False
        self.resets = 0

        class Pool:
            async def disconnect(pool) -> None:  # noqa: N805 - a stand-in's method
                self.resets += 1

        self.connection_pool = Pool()

    async def ping(self) -> bool:
        if not self.answering:
            raise ConnectionError("refused")
        return True

    async def aclose(self) -> None:
        pass


async def test_outage_is_reported_once_and_healed_after_recovery(caplog) -> None:
    states: list[bool] = []
    fallbacks: list[int] = []
    recovered: list[int] = []
    link = RedisLink(
        "redis://user:secret@127.0.0.1:1/0",
        "test",
        backoff_min_s=0.01,
        backoff_max_s=0.02,
        on_state=states.append,
        on_fallback=lambda: fallbacks.append(1),
    )

    async def recover() -> None:
        recovered.append(1)

    link.on_recover = recover
    client = FlakyClient()
    link.client = client
    with caplog.at_level(logging.WARNING, logger="runtime.redis_link"):
        await link.start()
        assert not link.up and states == [False]
        for _ in range(3):  # more failing calls in the same outage: no new report
            link.went_down(ConnectionError("again"))
        await asyncio.sleep(0.05)
        assert not link.up and fallbacks == [1]
        client.answering = True
        for _ in range(50):
            if link.up:
                break
            await asyncio.sleep(0.01)
        assert link.up and states[-1] is True and recovered == [1] and client.resets >= 1
        link.went_down(ConnectionError("second outage"))
        assert fallbacks == [1, 1]
    await link.close()
    unavailable = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(unavailable) == 2 and "secret" not in caplog.text


def test_urls_in_logs_hide_the_password() -> None:
    assert safe_url("redis://u:pw@host:6379/0") == "redis://***@host:6379/0"
    assert safe_url("redis://host:6379/0") == "redis://host:6379/0"
    assert safe_url(None) == ""

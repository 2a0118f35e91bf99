"""Redis access: the serving copy of each customer's latest scores.

`ScoreStore` is the interface; `RedisScoreStore` talks to a real server. Replay
keeps its in-memory twin as a plain dict (`core.replay.Replay.served`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import orjson
import redis
import redis.asyncio as aioredis

# HSET of each key in KEYS with the fields of the same row of ARGV[1], a JSON list of
# [field, value, field, value, ...] lists: a batch's scores as one command with one
# argument. redis-py packs each argument of a command in Python, and a pipeline of one
# HSET per customer spent five times the client's time on it.
HSET_ROWS = """
local rows = cjson.decode(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, unpack(rows[i]))
end
return #KEYS
"""


class ScoreStore(Protocol):
    async def put_scores(self, customer_id: str, scores: dict[str, str | float]) -> None: ...

    async def get_scores(self, customer_id: str) -> dict[str, str]: ...


class RedisScoreStore:
    """One hash per customer under `<namespace>:scores:<customer_id>`."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url = url
        self.namespace = namespace
        self._client: aioredis.Redis | None = None
        self._hset_rows = None

    @property
    def client(self) -> aioredis.Redis:
        # Created lazily so it binds to the event loop that uses it.
        if self._client is None:
            self._client = aioredis.Redis.from_url(self.url, decode_responses=True)
        return self._client

    def key(self, customer_id: str) -> str:
        return f"{self.namespace}:scores:{customer_id}"

    async def put_scores(self, customer_id: str, scores: dict[str, str | float]) -> None:
        await self.client.hset(self.key(customer_id), mapping={k: str(v) for k, v in scores.items()})

    async def put_many(self, scores: Iterable[tuple[str, dict[str, str | float]]]) -> int:
        """Several customers' scores in one round trip (a batch's, in order: the last write wins)."""
        keys, rows = [], []
        for customer_id, values in scores:
            if values:
                keys.append(self.key(customer_id))
                rows.append([part for k, v in values.items() for part in (k, str(v))])
        if keys:
            if self._hset_rows is None:
                self._hset_rows = self.client.register_script(HSET_ROWS)
            await self._hset_rows(keys=keys, args=[orjson.dumps(rows)])
        return len(keys)

    async def get_scores(self, customer_id: str) -> dict[str, str]:
        return await self.client.hgetall(self.key(customer_id))

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._hset_rows = None


def delete_namespace(url: str, namespace: str, batch: int = 1000) -> int:
    """Delete every key under `<namespace>:` (scores, limits, snapshots); return how many.

    For throwaway runs (tests, benchmarks) that each use their own namespace.
    """
    client = redis.Redis.from_url(url)
    deleted, keys = 0, []
    try:
        for key in client.scan_iter(match=f"{namespace}:*", count=batch):
            keys.append(key)
            if len(keys) == batch:
                deleted += client.unlink(*keys)
                keys.clear()
        if keys:
            deleted += client.unlink(*keys)
    finally:
        client.close()
    return deleted

"""Saving and restoring the worker's models in Redis, signed; a bad signature is refused."""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis

from core import LoyaltyEngine
from models import snapshot

log = logging.getLogger("loyalty.snapshots")


class ModelSnapshots:
    """One snapshot per app id under `<app_id>:models:snapshot`."""

    def __init__(self, url: str, app_id: str, keys: list[bytes]) -> None:
        self.url = url
        self.key = f"{app_id}:models:snapshot"
        self.keys = keys
        self._client: aioredis.Redis | None = None
        self.status = "none"
        self.saved_at: float | None = None
        self.restored_from: float | None = None

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(self.url)
        return self._client

    async def save(self, engine: LoyaltyEngine) -> int:
        blob = snapshot.dumps(engine.models, engine.watermark, self.keys[0], engine.marks)
        await self.client.set(self.key, blob)
        self.saved_at = time.time()
        return len(blob)

    async def restore(self, engine: LoyaltyEngine) -> bool:
        """Load the snapshot into `engine`; False (and the engine untouched) if there is none or it is refused."""
        blob = await self.client.get(self.key)
        if blob is None:
            self.status = "none found"
            return False
        try:
            restored = snapshot.loads(blob, self.keys)
        except snapshot.SnapshotRejected as error:
            self.status = f"refused: {error}"
            log.error("model snapshot %s %s; starting with fresh models", self.key, error)
            return False
        engine.models = restored.models
        engine.watermark = max(engine.watermark, restored.watermark)
        # Each partition's own watermark too: records read again after a crash then sweep as of
        # where that partition was, as they did before it, not from the start of time.
        for partition, mark in (restored.marks or {}).items():
            engine.marks[partition] = max(engine.marks.get(partition, 0.0), mark)
        self.status = "restored"
        self.restored_from = restored.watermark
        log.info("models restored from snapshot (watermark %s, %d bytes)", restored.watermark, len(blob))
        return True

    def age_seconds(self) -> float | None:
        return None if self.saved_at is None else round(time.time() - self.saved_at, 1)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

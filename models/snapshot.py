"""Signed model snapshots: pickles that are only ever loaded after their HMAC checks out.

A snapshot is `MAGIC | key id | HMAC-SHA256(key, payload) | payload`, where the
payload is the pickled models and the watermark. Loading verifies the MAC with
the key the id names before unpickling anything, so a tampered or foreign
snapshot is refused, never executed.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from dataclasses import dataclass

MAGIC = b"LSNAP1"
MAC_SIZE = hashlib.sha256().digest_size


class SnapshotRejected(ValueError):
    """A snapshot whose signature does not verify, or that is not a snapshot at all."""


@dataclass(frozen=True)
class Snapshot:
    models: object
    watermark: float
    marks: dict | None = None  # partition -> its own watermark (None in snapshots saved before they existed)


def key_id(key: bytes) -> bytes:
    """Names a key without revealing it (8 bytes of its hash)."""
    return hashlib.sha256(b"loyalty-snapshot-key|" + key).digest()[:8]


def sign(payload: bytes, key: bytes, magic: bytes = MAGIC) -> bytes:
    """`magic | key id | HMAC-SHA256(key, payload) | payload`: what `verify` accepts."""
    return magic + key_id(key) + hmac.new(key, payload, hashlib.sha256).digest() + payload


def verify(blob: bytes, keys: list[bytes], magic: bytes = MAGIC) -> bytes:
    """The payload, once the MAC checks out with whichever of `keys` (current first, then rotated-out) signed it."""
    header = len(magic) + 8 + MAC_SIZE
    if len(blob) < header or not blob.startswith(magic):
        raise SnapshotRejected("not a loyalty-streams snapshot: refused")
    kid, mac, payload = blob[len(magic):len(magic) + 8], blob[len(magic) + 8:header], blob[header:]
    key = next((k for k in keys if hmac.compare_digest(key_id(k), kid)), None)
    if key is None:
        raise SnapshotRejected("snapshot signed with an unknown key: refused")
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
        raise SnapshotRejected("snapshot signature does not match: refused")
    return payload


def dumps(models: object, watermark: float, key: bytes, marks: dict | None = None) -> bytes:
    """
    >>> blob = dumps({"w": 1}, 5.0, b"k1")
    >>> loads(blob, [b"k1"]).watermark
    5.0
    >>> loads(dumps({}, 5.0, b"k1", {0: 4.0, 3: 5.0}), [b"k1"]).marks
    {0: 4.0, 3: 5.0}
    >>> loads(blob[:-1] + bytes([blob[-1] ^ 1]), [b"k1"])
    Traceback (most recent call last):
    ...
    models.snapshot.SnapshotRejected: snapshot signature does not match: refused
    """
    return sign(pickle.dumps(Snapshot(models, watermark, dict(marks or {})), protocol=pickle.HIGHEST_PROTOCOL), key)


def loads(blob: bytes, keys: list[bytes]) -> Snapshot:
    """Verify with whichever of `keys` signed it (current first, then rotated-out ones), then unpickle."""
    snapshot = pickle.loads(verify(blob, keys))  # noqa: S301 - verified first
    if not isinstance(snapshot, Snapshot):
        raise SnapshotRejected("snapshot payload is not a Snapshot: refused")
    return snapshot

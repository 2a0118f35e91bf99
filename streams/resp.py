"""Redis commands packed once, as bytes, and sent on one of the client's pooled connections.

The worker sends Redis two kinds of calls per batch: one `reserve` script per decision
with about twenty keys and fifty arguments, and one `HSET` per served customer.
redis-py's asyncio client packs each argument through several Python layers (its
encoder, command parsing, the retry wrapper); on the benchmark those layers cost more
than the work Redis does. Here the arguments are already strings, so a command is one
`b"".join`, and a pipeline of commands is one write and one read per reply.

Errors behave as redis-py's: an error reply is raised as its `ResponseError` subclass
(`NoScriptError` included), a broken connection as `ConnectionError`, and the connection
is dropped, not returned to the pool half-read. Like redis-py, a call whose pooled
connection turns out broken (the server restarted since) is tried once more on a
new one; callers send only commands that are safe to repeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

Arg = str | bytes | int


def pack(args: Sequence[Arg]) -> bytes:
    """One command in the Redis protocol (RESP): an array of bulk strings.

    >>> pack(["HSET", "k", "f", "1"])
    b'*4\\r\\n$4\\r\\nHSET\\r\\n$1\\r\\nk\\r\\n$1\\r\\nf\\r\\n$1\\r\\n1\\r\\n'
    >>> pack(["SET", "clé", b"\\x00"])  # text as UTF-8, bytes as they are
    b'*3\\r\\n$3\\r\\nSET\\r\\n$4\\r\\ncl\\xc3\\xa9\\r\\n$1\\r\\n\\x00\\r\\n'
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


async def call(client: aioredis.Redis, commands: Iterable[Sequence[Arg]]) -> list:
    """Send `commands` in one write and return their replies in order (a pipeline, no transaction).

    Raises the first error reply once every reply is read, so the connection stays in step.
    """
    packed = [pack(command) for command in commands]
    if not packed:
        return []
    try:
        replies = await _exchange(client, b"".join(packed), len(packed))
    except RedisConnectionError:
        replies = await _exchange(client, b"".join(packed), len(packed))
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


async def _exchange(client: aioredis.Redis, data: bytes, replies: int) -> list:
    pool = client.connection_pool
    connection = await pool.get_connection()
    try:
        await connection.send_packed_command(data)
        return [await connection.read_response() for _ in range(replies)]
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)

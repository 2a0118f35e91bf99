"""A background thread that follows compacted topics every worker reads in full (catalog, model versions)."""

from __future__ import annotations

import logging
import threading

from confluent_kafka import Consumer, KafkaError

log = logging.getLogger("loyalty.follow")

# A follower's consumer waits for a record at most 100 ms in the broker (librdkafka's default is 500):
# at start its bootstrap reads to the end of nearly empty topics, where each empty fetch waits this
# long (measured: 0.6 s to both catalog topics' ends instead of 1.0 to 1.5; in workers' logs, restore
# to catalog ready 1.22 s instead of 2.02, medians), and afterwards a campaign edit reaches the
# workers sooner; an idle follower fetches ten times a second.
FOLLOWER_FETCH = {"fetch.wait.max.ms": 100}


class Follower:
    """Subclasses set `_consumer` (assigned, read to its end by their bootstrap) and define `_take`."""

    thread_name = "follower"
    what = "followed topics"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _take(self, message) -> None:
        raise NotImplementedError

    def _follow(self) -> None:
        consumer = self._consumer
        while not self._stop.is_set():
            message = consumer.poll(0.5)
            if message is None or (message.error() and message.error().code() == KafkaError._PARTITION_EOF):
                continue
            if message.error():
                log.warning("%s: %s", self.what, message.error())
                continue
            self._take(message)
        consumer.close()

"""The Outbox's ordering: state records reach the broker only after the outputs put before them."""

from streams.kafka.outbox import Outbox
from streams.settings import Settings


class _Broker:
    """Stands in for librdkafka's queue: records wait until the test delivers them."""

    def __init__(self) -> None:
        self.produced: list[str] = []
        self.waiting: list = []

    def produce(self, topic, key=None, value=None, headers=None, on_delivery=None, **extra):
        self.produced.append(value.decode())
        self.waiting.append((on_delivery, value))

    def poll(self, timeout=0):
        return 0

    def deliver(self, value: str) -> None:
        callback, _ = next(w for w in self.waiting if w[1] == value.encode())
        self.waiting = [w for w in self.waiting if w[1] != value.encode()]
        callback(None, None)


def _outbox() -> tuple[Outbox, _Broker]:
    outbox, broker = Outbox(Settings()), _Broker()
    outbox._producer = broker
    return outbox, broker


def test_a_state_record_waits_for_the_outputs_put_before_it():
    outbox, broker = _outbox()
    outbox.put("offers", b"c", b"offer-1")
    outbox.put("offers", b"c", b"offer-2")
    outbox.put_after_outputs("changelog", b"k", b"state-1")
    outbox.put_after_outputs("changelog", b"k", b"state-2")
    outbox.serve()
    assert broker.produced == ["offer-1", "offer-2"]
    broker.deliver("offer-2")
    outbox.serve()
    assert broker.produced == ["offer-1", "offer-2"]  # offer-1 is still on its way
    outbox.put("offers", b"c", b"offer-3")  # a later output does not hold the earlier states back
    broker.deliver("offer-1")
    outbox.serve()
    assert broker.produced == ["offer-1", "offer-2", "offer-3", "state-1", "state-2"]


def test_deliver_waits_for_held_records_too():
    import asyncio

    outbox, broker = _outbox()
    outbox.put("offers", b"c", b"offer-1")
    outbox.put_after_outputs("changelog", b"k", b"state-1")

    async def run():
        waiting = asyncio.ensure_future(outbox.deliver(timeout=5))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        broker.deliver("offer-1")
        await asyncio.sleep(0.2)
        assert broker.produced[-1] == "state-1" and not waiting.done()
        broker.deliver("state-1")
        return await waiting

    assert asyncio.run(run()) == 2

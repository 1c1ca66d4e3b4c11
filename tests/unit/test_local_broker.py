import asyncio

from flychat.adapters.local_broker import LocalBroker
from flychat.domain.model import Draft, Message, RoomId
from flychat.domain.wire import Durable, Provisional

from .test_sequencer import msg

ROOM = RoomId("lobby")


async def test_messages_reach_only_their_room() -> None:
    broker = LocalBroker()
    here = broker.subscribe(ROOM)
    there = broker.subscribe(RoomId("other"))
    broker.publish_message(ROOM, msg(1))
    assert [item.message for item in await here.receive(0.1) if isinstance(item, Durable)] == [
        msg(1)
    ]
    assert await there.receive(0.01) == []


async def test_a_slow_subscriber_overflows_instead_of_blocking() -> None:
    broker = LocalBroker(queue_size=10)
    slow = broker.subscribe(ROOM)
    fast = broker.subscribe(ROOM)
    for i in range(1, 26):
        broker.publish_message(ROOM, msg(i))
        assert len(await fast.receive(0.1)) == 1
    assert slow.overflowed
    assert len(await slow.receive(0.01)) < 10


async def test_close_all_ends_current_and_future_subscriptions() -> None:
    broker = LocalBroker()
    current = broker.subscribe(ROOM)
    broker.close_all()
    assert current.closed and broker.subscribe(ROOM).closed


async def test_unsubscribe_forgets_the_room() -> None:
    broker = LocalBroker()
    subscription = broker.subscribe(ROOM)
    assert broker.subscriber_count(ROOM) == 1
    broker.unsubscribe(ROOM, subscription)
    assert broker.subscriber_count() == 0


async def test_a_wait_after_a_wake_up_ends_by_its_own_deadline() -> None:
    broker = LocalBroker()
    subscription = broker.subscribe(ROOM)
    waiting = asyncio.create_task(subscription.receive(30))
    await asyncio.sleep(0.01)
    broker.publish_message(ROOM, msg(1))
    assert len(await asyncio.wait_for(waiting, 1)) == 1
    assert await asyncio.wait_for(subscription.receive(0.05), 1) == []


async def test_an_unsubscribed_inbox_is_closed_and_takes_nothing() -> None:
    broker = LocalBroker()
    subscription = broker.subscribe(ROOM)
    broker.unsubscribe(ROOM, subscription)
    broker.publish_message(ROOM, msg(1))
    assert subscription.closed
    assert await subscription.receive(0.01) == []


def _draft_of(message: Message) -> Draft:
    return Draft(message.provisional_id, message.sender, message.text, message.date)


async def test_a_durable_event_published_right_after_its_provisional_wakes_the_reader_once() -> (
    None
):
    broker = LocalBroker()
    subscription = broker.subscribe(ROOM)
    reader = asyncio.create_task(subscription.receive(30))
    await asyncio.sleep(0)
    broker.publish_provisional(ROOM, _draft_of(msg(1)))
    await asyncio.sleep(0)
    broker.publish_message(ROOM, msg(1))
    items = await asyncio.wait_for(reader, 1)
    assert [type(item) for item in items] == [Provisional, Durable]


async def test_a_provisional_event_does_not_wait_for_a_slow_store() -> None:
    broker = LocalBroker()
    subscription = broker.subscribe(ROOM)
    reader = asyncio.create_task(subscription.receive(30))
    await asyncio.sleep(0)
    broker.publish_provisional(ROOM, _draft_of(msg(1)))
    items = await asyncio.wait_for(reader, 0.5)
    assert [type(item) for item in items] == [Provisional]

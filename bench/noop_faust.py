"""Variant C: the ceiling. A Faust agent that only consumes the three topics (no decode, no state, no output).

It takes events in batches, as the project's worker does, so the gap between
this and variant A is the cost of the work itself, not of how Faust hands records over.
"""

from faust_variant import TOPICS, FinishLine, arguments, make_app, raw_topic, run

args = arguments(__doc__)
app = make_app(args)
finish = FinishLine("faust-noop", args.expect, args.timeout)
source = app.topic(*(f"{args.prefix}{t}" for t in TOPICS), key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def consume(stream):
    async for batch in stream.take_events(5000, within=0.2):
        finish.add(len(batch))


if __name__ == "__main__":
    run(app)

"""How events travel from an edge to the hub, and nothing else.

* :mod:`~citytally.transport.publisher` — the :class:`Publisher` protocol every stage hands events to, with
  file, memory and fan-out publishers;
* :mod:`~citytally.transport.bus` — the in-process bus (the demo: edge and hub in one process, no broker);
* :mod:`~citytally.transport.outbox` — the edge's durable outbox in front of an MQTT broker;
* :mod:`~citytally.transport.mqtt` — broker settings and the paho client both ends build from them;
* :mod:`~citytally.transport.status` — the outbox status messages an edge sends the hub.

This package depends only on :mod:`citytally.events` and :mod:`citytally.errors` (and third-party
libraries): the edge uses it without the hub, the hub without the edge.
"""

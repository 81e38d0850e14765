"""The edge: everything that sees pixels, on the machine beside the camera.

decode (:mod:`~citytally.edge.source`) → detect (:mod:`~citytally.edge.detector`, optionally only where
:mod:`~citytally.edge.motion` found movement) → track within one camera (:mod:`~citytally.edge.tracker`) →
analytics and incidents → anonymous events, handed to a :mod:`citytally.transport` publisher.
:mod:`~citytally.edge.pipeline` wires the stages; frames leave only through the masked preview
(:mod:`~citytally.edge.preview`, :mod:`~citytally.edge.privacy`). The edge never imports the hub or the
signals package (``tests/test_layering.py``).
"""

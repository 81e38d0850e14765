"""Traffic signals: safe signal objects over SUMO, controllers, emergency priority and evaluation.

:mod:`~citytally.signals.evaluate`, :mod:`~citytally.signals.emergency` and :mod:`~citytally.signals.resco`
run episodes for the ``citytally signals`` commands; published figures and the scripts that turn runs into
benchmark tables live in ``bench/signals_*.py``. The package reads per-lane counts
(:mod:`~citytally.signals.sensors`), never vehicle identities, and never imports the edge or the hub
(``tests/test_layering.py``).
"""

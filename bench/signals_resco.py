"""RESCO benchmark: every controller on the five RESCO scenarios, SUMO 1.9.1 and current; prints each cell.

Same as ``citytally signals bench``; arguments pass through, e.g.

    .venv/bin/python bench/signals_resco.py --seeds 3
    .venv/bin/python bench/signals_resco.py --versions current --scenarios cologne1,ingolstadt1

Each cell (scenario × controller × SUMO version) is printed as it finishes and the table is written into the
``## Signals: RESCO benchmark`` section of docs/benchmarks.md beside the published numbers.
"""

from __future__ import annotations

import sys

from citytally.cli import main

if __name__ == "__main__":
    sys.argv = ["citytally", "signals", "bench", *sys.argv[1:]]
    main()

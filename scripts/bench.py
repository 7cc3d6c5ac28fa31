"""The bench table of the README in one command: `vsrife bench` (see vsrife/bench.py for what it measures).

.venv/bin/python scripts/bench.py [--quick] [--json out/bench.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vsrife.bench import main

if __name__ == "__main__":
    raise SystemExit(main())

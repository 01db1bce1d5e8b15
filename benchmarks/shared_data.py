"""Where the benchmarks find the development tables: ``../shared/data`` beside the clone
(see its README). Importing this points ``BAYES_SCALING_DATA_DIR`` there when the folder
exists and the variable is unset, so the real tables load from the offline copies and
nothing is downloaded."""

import os
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if SHARED_DATA.is_dir():
    os.environ.setdefault("BAYES_SCALING_DATA_DIR", str(SHARED_DATA))

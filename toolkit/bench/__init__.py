"""`compress bench`: measure a finished run folder, or one model file, on this machine.

The face of the package; `core.py` measures, `recipe.py` reads a run folder's recipe without its data.
"""

from toolkit.bench.core import bench_file, bench_run

__all__ = ["bench_file", "bench_run"]

import subprocess
import sys

PROBE = """
import gc
from flychat.entrypoints.cli import GC_THRESHOLDS, tune_gc
tune_gc()
assert gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
print("tuned")
"""


def test_serve_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "tuned"

"""What the client model scripts (mace_model.py, nequip_model.py) share: their command line and how
they time a forward+forces pass."""

import argparse
import time


def parse_args() -> argparse.Namespace:
    """``--state STATE.pt (--save | --load) --out OUT.pt [--time]`` (see the scripts' docstrings)."""
    p = argparse.ArgumentParser()
    p.add_argument("--state", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--save", action="store_true")
    p.add_argument("--load", action="store_true")
    p.add_argument("--time", action="store_true")
    return p.parse_args()


def fastest_seconds(run) -> float:
    """Seconds of ``run()`` after two warm-up calls: the fastest of 5, the least disturbed by other work on a shared machine."""
    for _ in range(2):
        run()
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return min(seconds)

"""A tqdm progress bar as a ``Progress`` callback (command-line tools only)."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def tqdm_progress(total: int, desc: str, enabled: bool = True):
    """Yield ``update(message)``: advance the bar by one step and show ``message``."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, disable=not enabled, dynamic_ncols=True, leave=True)
    try:
        def update(message: str = "") -> None:
            bar.update(1)
            if message:
                bar.set_postfix_str(message, refresh=False)

        yield update
    finally:
        bar.close()

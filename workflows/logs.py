"""How every process of a run logs: the entry point calls ``setup_logging`` and ``common.init_ray``
names it as Ray's ``worker_process_setup_hook``, so workers (e.g. the extraction actors) log the
same way. Its own module, so workers import nothing else to run it."""

from __future__ import annotations

import logging
import os


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("SIGNAVATAR_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

"""What every entry point shares: ``--config FILE key=value ...`` parsing, logging, Ray connection."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from signavatar.config import SignAvatarConfig, load_config


def parse_args(description: str, argv: Sequence[str] | None = None, extra: Sequence[tuple[str, dict]] = (),
               default_config: str | None = None) -> tuple[argparse.Namespace, SignAvatarConfig]:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=default_config, help=f"YAML config file (local or s3://); default {default_config}")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.epochs=20")
    args = parser.parse_args(argv)
    return args, load_config(args.config, args.overrides)


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("SIGNAVATAR_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def init_ray() -> None:
    """Join the cluster this job was submitted to (``RAY_ADDRESS``), or start a local one."""
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if not ray.is_initialized():
        ray.init(configure_logging=False, log_to_driver=True)

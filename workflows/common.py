"""What every entry point shares: ``--config FILE key=value ...`` parsing, logging, Ray connection,
the run's dataset."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from signavatar import storage
from signavatar.commands import run_command
from signavatar.config import SignAvatarConfig, load_config
from signavatar.data.preparation import build_demo_dataset
from signavatar.extraction.pipeline import run_extraction
from workflows.logs import setup_logging


def parse_args(description: str, argv: Sequence[str] | None = None, extra: Sequence[tuple[str, dict]] = (),
               default_config: str | None = None) -> tuple[argparse.Namespace, SignAvatarConfig]:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=default_config, help=f"YAML config file (local or s3://); default {default_config}")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.epochs=20")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    return args, load_config(args.config, args.overrides)


def run_main(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None) -> int:
    """``python -m workflows.<name>``: ``main`` with one-line errors and an exit code
    (``signavatar.commands.run_command``; ``--debug`` shows the traceback)."""
    spec = getattr(sys.modules.get(main.__module__), "__spec__", None)
    prog = f"python -m {spec.name}" if spec is not None else main.__module__
    return run_command(prog, main, list(sys.argv[1:] if argv is None else argv))


def init_ray() -> None:
    """Join the cluster named by ``RAY_ADDRESS`` (``ray job submit`` sets it; ``RAY_ADDRESS=auto``
    joins the cluster ``ray start`` left on this machine), or else start a local one.

    Never a bare ``ray.init()``: it would attach to whatever cluster ``/tmp/ray/ray_current_cluster``
    names, e.g. a stale or someone else's ``ray start``. A local cluster's processes are told its
    address too: Ray-internal lookups that take none (Ray Train's placement-group cleaner asks the
    state API whether its controller still lives) would otherwise ask that other cluster, conclude
    the controller is gone, and remove this run's placement group.

    Every Ray worker of the run starts with ``workflows.logs.setup_logging``, as this process does."""
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", RAY_TRAIN_CONTROLLER_POLL_S)
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], runtime_env={"env_vars": _worker_env(),
                                                                "worker_process_setup_hook": WORKER_SETUP_HOOK},
                 configure_logging=False, log_to_driver=True)
        return
    port = _free_port()
    previous = os.environ.get(GCS_PORT_VARIABLE)
    os.environ[GCS_PORT_VARIABLE] = str(port)  # read by Ray when it starts the local GCS
    try:
        ray.init(address="local", runtime_env={"env_vars": {**_worker_env(), "RAY_ADDRESS": f"127.0.0.1:{port}"},
                                               "worker_process_setup_hook": WORKER_SETUP_HOOK},
                 configure_logging=False, log_to_driver=True)
    finally:
        if previous is None:
            os.environ.pop(GCS_PORT_VARIABLE, None)
        else:
            os.environ[GCS_PORT_VARIABLE] = previous


GCS_PORT_VARIABLE = "RAY_GCS_SERVER_PORT"  # ray._private.ray_constants.GCS_PORT_ENVIRONMENT_VARIABLE
WORKER_SETUP_HOOK = f"{setup_logging.__module__}.{setup_logging.__name__}"

# Train V2 workers hand each report to the controller through a queue of size one that the
# controller drains when it polls (every 2 s by default): with sub-second epochs, every report would
# wait for the next poll. A faster poll (a cheap status call) removes that stall; the driver's value
# propagates to the controller. An explicit setting in the environment wins.
RAY_TRAIN_CONTROLLER_POLL_S = "0.25"


def _worker_env() -> dict[str, str]:
    """Settings every Ray worker of the run gets: the Train controller poll, so that a Train run
    started from a worker (a Tune trial) polls as fast as one started here."""
    return {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resolve_dataset(config: SignAvatarConfig) -> str:
    """``data.dataset``, else ``<run_dir>/dataset``: the landmark corpus of ``extract`` imported
    there (resumable: a finished import is only re-listed) or, with ``extract.source=video``, the
    synthetic corpus."""
    if config.data.dataset:
        return config.data.dataset
    uri = storage.absolute(storage.join(config.run_dir, "dataset"))
    if config.extract.landmark_corpus:
        run_extraction(config.model_copy(update={"extract": config.extract.model_copy(update={"output": uri})}))
    else:
        build_demo_dataset(config, uri)
    return uri

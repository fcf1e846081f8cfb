"""The demo app as ``serve run serve_configs/local.yaml`` deploys it, for the serving benchmarks:
that file's http_options, logging, deployment options and runtime_env, on a free port, with the
app args a benchmark overrides (checkpoint, CLIP, ...). Deployed through Serve's controller from
the parsed config, as ``serve run`` / ``serve deploy`` do, so what is measured is what users run."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO / "serve_configs" / "local.yaml"
APP_NAME = "signavatar"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_config(port: int, **args: Any) -> dict[str, Any]:
    """local.yaml with ``port`` and its app's args updated by ``args``."""
    config = yaml.safe_load(LOCAL_CONFIG.read_text())
    config["http_options"]["port"] = port
    application = config["applications"][0]
    application["args"] = {**application["args"], **args}
    return config


def deploy_local(port: int, **args: Any) -> dict[str, Any]:
    """Start Serve on this Ray and deploy local.yaml (``local_config``) on ``port``; returns the app
    args deployed."""
    from ray import serve
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    config = local_config(port, **args)
    schema = ServeDeploySchema.model_validate(config)
    serve.start(http_options=schema.http_options.model_dump(exclude_unset=True),
                logging_config=schema.logging_config.model_dump(exclude_unset=True) if schema.logging_config else None)
    _get_global_client().deploy_apps(schema, _blocking=True)
    return config["applications"][0]["args"]

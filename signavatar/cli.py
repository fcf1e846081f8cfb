"""The ``signavatar`` command. Each subcommand is a thin wrapper over a workflow or library call;
``signavatar <cmd> --help`` shows its options. Errors print one line (``signavatar.commands``);
``signavatar --debug <cmd> ...`` shows the traceback.
"""

from __future__ import annotations

import importlib
import sys

from signavatar.commands import DEBUG_FLAG, run_command

# subcommand -> (module with a ``main(argv)``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("workflows.demo", "run the whole loop on the embedded real ASL corpus (configs/demo.yaml)"),
    "train": ("workflows.train", "train the CVAE on Ray Train (--config FILE key=value ...)"),
    "evaluate": ("workflows.evaluate", "paper metrics (Acc, FID, Div, Multi) of a checkpoint on Ray Data"),
    "ablation": ("workflows.ablation", "Table II-style ablation: with/without curriculum and quality control"),
    "tune": ("workflows.tune", "Ray Tune sweep from tune_configs/*.yaml (--config FILE [--resume] key=value ...)"),
    "generate": ("signavatar.serving.generate_cli", "ask a running endpoint for clips of a word, sentence or image"),
    "reconstruct": ("signavatar.serving.reconstruct_cli", "reconstruct a clip or video through a running endpoint"),
    "render": ("signavatar.rendering.command", "preview .npz clips as mp4/gif (avatar, skeleton or SMPL-X mesh, side by side)"),
    "export": ("signavatar.avatar.command", "an .npz clip as .glb (animated avatar), .bvh (skeleton) or .pose (keypoints)"),
    "extract": ("workflows.extract", "extract SMPL-X clips from a video corpus on Ray Data (--config FILE key=value ...)"),
    "fit": ("signavatar.extraction.fit_cli", "fit one .pose file to SMPL-X: FILE.pose --out clip.npz (prints fitting errors)"),
    "landmarks": ("signavatar.extraction.landmarks_cli", "MediaPipe Holistic on one video: VIDEO --out FILE.pose"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: signavatar [--debug] <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", f"Errors print one line; {DEBUG_FLAG} (or SIGNAVATAR_DEBUG=1) shows the traceback."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(argv) and argv[0] == DEBUG_FLAG
    if debug:
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"signavatar: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return run_command(f"signavatar {name}", module.main, [*rest, *([DEBUG_FLAG] if debug else [])])


if __name__ == "__main__":
    sys.exit(main())

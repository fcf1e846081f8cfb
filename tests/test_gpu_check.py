"""The GPU check (``benchmarks/gpu_check.py``): its CPU side runs everywhere; its CUDA side where a GPU is."""

from __future__ import annotations

import pytest
import torch

from benchmarks import gpu_check

STAGES = {"train_fp32", "train_bf16", "generate", "fit", "recognizer"}


def _positive(figures: dict) -> bool:
    return all(v > 0 for stage in figures.values() for v in stage.values())


def test_gpu_check_measures_every_stage_on_the_cpu_and_says_why_cuda_is_missing():
    report = gpu_check.main(["--quick"])
    assert set(report["cpu"]) == STAGES and _positive(report["cpu"])
    if not torch.cuda.is_available():
        assert report["cuda"] is None and "torch.cuda.is_available() is False" in report["cuda_skipped"]


@pytest.mark.gpu
def test_gpu_check_runs_every_stage_on_cuda_beside_the_cpu():
    from signavatar.devices import torch_device

    assert torch_device().type == "cuda"  # the one device choice every stage makes
    report = gpu_check.main(["--quick"])
    assert set(report["cuda"]) == STAGES and _positive(report["cuda"])
    assert set(report["cuda_over_cpu"]) == STAGES and report["gpu_name"]

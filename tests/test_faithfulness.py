"""The DTW joint-error metric on known answers (``signavatar.evaluation.faithfulness``)."""

from __future__ import annotations

import itertools

import dtw as dtw_python
import numpy as np
import pytest
import torch

from signavatar.body.joints import LEFT_HAND, NUM_JOINTS, UPPER_BODY_JOINTS
from signavatar.body.rotations import axis_angle_to_rot6d
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.evaluation import faithfulness

FRAMES = 12


def _features(poses: np.ndarray) -> np.ndarray:
    """Model features ``[N, T, 264]`` of axis-angle poses ``[N, T, 55, 3]``."""
    upper = torch.from_numpy(poses[:, :, list(UPPER_BODY_JOINTS)].astype(np.float32))
    return axis_angle_to_rot6d(upper).reshape(*poses.shape[:2], -1).numpy()


def _signing(seed: int, frames: int = FRAMES, still: int = 0) -> np.ndarray:
    """A smooth random upper-body motion ``[frames, 55, 3]``, held still for ``still`` frames at each end."""
    rng = np.random.default_rng(seed)
    keys = rng.normal(0, 0.35, (4, NUM_JOINTS, 3))
    moving = frames - 2 * still
    t = np.linspace(0, 3, moving)
    poses = np.stack([keys[int(min(x, 2.999))] * (1 - x % 1) + keys[int(min(x, 2.999)) + 1] * (x % 1) for x in t])
    return np.concatenate([np.repeat(poses[:1], still, 0), poses, np.repeat(poses[-1:], still, 0)]).astype(np.float32)


def test_dtw_equals_dtw_python_symmetric2_normalised():
    """The batched recursion gives dtw-python's normalizedDistance (symmetric2 step pattern) on
    random frame-cost matrices, square and not, many at once."""
    rng = np.random.default_rng(0)
    for ta, tb in ((4, 4), (7, 3), (3, 9), (19, 19)):
        costs = rng.uniform(0, 1, (6, ta, tb))
        ours = faithfulness.dtw(torch.from_numpy(costs)).numpy()
        reference = [dtw_python.dtw(c, step_pattern="symmetric2", distance_only=True).normalizedDistance for c in costs]
        np.testing.assert_allclose(ours, reference, rtol=1e-9)


def test_identical_and_time_shifted_clips_score_zero_and_a_moved_hand_only_its_hand():
    base = _signing(1, still=3)
    shifted = np.concatenate([np.repeat(base[:1], 2, 0), base[:-2]])  # 2 frames later, within the still ends
    moved = base.copy()
    moved[:, LEFT_HAND] += 0.4  # the left fingers only
    other = _signing(2)
    pos = faithfulness.positions(_features(np.stack([base, shifted, moved, other])), DEFAULT_REST_JOINTS)
    distances = faithfulness.dtw(faithfulness.frame_costs(pos, pos[:1]))[:, 0].numpy()  # [clips, parts]
    errors = {part: distances[:, k] for k, part in enumerate(faithfulness.PARTS)}
    for part in faithfulness.PARTS:
        assert errors[part][0] < 1e-6 and errors[part][1] < 1e-6  # identical; shifted in time
        assert errors[part][3] > 0.01  # another sign differs everywhere
    assert errors["left_hand"][2] > 0.01
    assert errors["body"][2] < 1e-6 and errors["right_hand"][2] < 1e-6
    # without DTW the shifted clip would not match frame by frame
    framewise = np.linalg.norm(pos[1] - pos[0], axis=-1).mean()
    assert framewise > 0.005


def test_positions_are_root_aligned_metres_of_the_part_joints():
    pos = faithfulness.positions(_features(np.zeros((1, 2, NUM_JOINTS, 3), np.float32)), DEFAULT_REST_JOINTS)
    expected = DEFAULT_REST_JOINTS[list(faithfulness.PART_JOINTS)] - DEFAULT_REST_JOINTS[0]
    np.testing.assert_allclose(pos[0, 1], expected, atol=1e-6)


def test_nearest_and_mean_against_the_real_clips_of_the_same_gloss():
    """A clip equal to one of its gloss's references: nearest 0, mean > 0; a gloss without
    references gives NaN, never another gloss's reference."""
    clips = [_signing(s) for s in (10, 11, 12)]
    pos = faithfulness.positions(_features(np.stack(clips)), DEFAULT_REST_JOINTS)
    references, reference_glosses = pos[[0, 1, 2]], np.array(["a", "a", "b"])
    errors = faithfulness.clip_errors(pos[[0, 2]], np.array(["a", "c"]), references, reference_glosses)
    for part in faithfulness.PARTS:
        assert errors[part]["nearest"][0] == pytest.approx(0.0, abs=1e-6)
        assert errors[part]["mean"][0] > 0.005
        assert np.isnan(errors[part]["nearest"][1]) and np.isnan(errors[part]["mean"][1])
    summary = faithfulness.summarize_errors(errors, np.array(["a", "c"]))
    assert summary["overall"]["body_nearest"] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(summary["per_gloss"]["c"]["left_hand_mean"])
    assert list(itertools.chain(*[faithfulness.PARTS[p] for p in faithfulness.PARTS])) == list(faithfulness.PART_JOINTS)

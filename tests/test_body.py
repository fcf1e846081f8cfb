"""SMPL-X body layer: joint constants, rotation conversions, forward kinematics, model loading."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import smplx.joint_names
import torch
from smplx.lbs import batch_rodrigues

from signavatar.body import (
    BODY,
    DEFAULT_REST_JOINTS,
    JAW,
    JOINT_NAMES,
    LEFT_EYE,
    LEFT_HAND,
    NUM_JOINTS,
    NUM_UPPER_BODY,
    PARENTS,
    RIGHT_EYE,
    RIGHT_HAND,
    UPPER_BODY_JOINTS,
    axis_angle_to_matrix,
    axis_angle_to_rot6d,
    forward_kinematics,
    forward_kinematics_axis_angle,
    joint_index,
    load_body_model,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    resolve_rest_joints,
    rest_joints_from_model,
    rot6d_to_axis_angle,
    rot6d_to_matrix,
)
from tests.support.smplx_files import write_synthetic_smplx

DTYPES = [torch.float64, torch.float32]


def random_axis_angle(n: int, dtype: torch.dtype, max_angle: float = math.pi - 1e-3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(n, 1, generator=g, dtype=torch.float64) * max_angle
    return (axis * angle).to(dtype)


def assert_rotation(matrix: torch.Tensor, atol: float) -> None:
    eye = torch.eye(3, dtype=matrix.dtype).expand_as(matrix)
    torch.testing.assert_close(matrix @ matrix.transpose(-1, -2), eye, atol=atol, rtol=0)
    det = torch.linalg.det(matrix)
    torch.testing.assert_close(det, torch.ones_like(det), atol=atol, rtol=0)


# --- joints -------------------------------------------------------------------------------------


def test_joint_names_match_smplx():
    assert NUM_JOINTS == len(JOINT_NAMES) == len(PARENTS) == 55
    assert JOINT_NAMES == tuple(smplx.joint_names.JOINT_NAMES[:55])
    assert len(set(JOINT_NAMES)) == 55


def test_parents_form_smplx_tree():
    assert PARENTS[0] == -1
    assert all(0 <= p < j for j, p in enumerate(PARENTS) if j > 0)
    for hand, w in ((LEFT_HAND, joint_index("left_wrist")), (RIGHT_HAND, joint_index("right_wrist"))):
        ids = list(range(hand.start, hand.stop))
        # five 3-joint chains hanging off the wrist
        assert [PARENTS[i] for i in ids] == [p for k in range(5) for p in (w, ids[3 * k], ids[3 * k + 1])]
        assert all(JOINT_NAMES[i].startswith(JOINT_NAMES[w].split("_")[0]) for i in ids)
    head = joint_index("head")
    assert PARENTS[JAW] == PARENTS[LEFT_EYE] == PARENTS[RIGHT_EYE] == head
    assert PARENTS[joint_index("left_elbow")] == joint_index("left_shoulder")
    assert PARENTS[joint_index("right_collar")] == joint_index("spine3")
    assert (JAW, LEFT_EYE, RIGHT_EYE) == (22, 23, 24)
    assert len(JOINT_NAMES[BODY]) == 22 and JOINT_NAMES[BODY][-1] == "right_wrist"
    assert JOINT_NAMES[LEFT_HAND.start] == "left_index1" and JOINT_NAMES[RIGHT_HAND.stop - 1] == "right_thumb3"


def test_upper_body_joints():
    assert len(UPPER_BODY_JOINTS) == NUM_UPPER_BODY == 44
    assert list(UPPER_BODY_JOINTS) == sorted(set(UPPER_BODY_JOINTS))
    names = {JOINT_NAMES[i] for i in UPPER_BODY_JOINTS}
    assert {"spine1", "spine3", "neck", "head", "jaw", "left_wrist", "right_thumb3"} <= names
    assert not names & {"pelvis", "left_hip", "right_knee", "left_foot", "left_eye_smplhf"}


def test_joint_index():
    assert joint_index("pelvis") == 0
    assert joint_index("left_wrist") == 20
    assert joint_index("right_thumb3") == 54
    with pytest.raises(ValueError, match="not_a_joint"):
        joint_index("not_a_joint")


# --- rotations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_angle_matrix_round_trip(dtype):
    aa = random_axis_angle(2000, dtype)
    matrix = axis_angle_to_matrix(aa)
    assert matrix.dtype == dtype
    assert_rotation(matrix, atol=1e-5)
    torch.testing.assert_close(matrix_to_axis_angle(matrix), aa, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_smplx_rodrigues(dtype):
    aa = random_axis_angle(500, dtype, seed=1)
    torch.testing.assert_close(axis_angle_to_matrix(aa), batch_rodrigues(aa), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rot6d_round_trips(dtype):
    aa = random_axis_angle(2000, dtype, seed=2)
    matrix = axis_angle_to_matrix(aa)
    rot6d = matrix_to_rot6d(matrix)
    assert rot6d.shape == (2000, 6)
    # 6D is the first two columns, flattened column by column
    torch.testing.assert_close(rot6d[:, :3], matrix[:, :, 0])
    torch.testing.assert_close(rot6d[:, 3:], matrix[:, :, 1])
    torch.testing.assert_close(rot6d_to_matrix(rot6d), matrix, atol=1e-5, rtol=0)
    torch.testing.assert_close(axis_angle_to_rot6d(aa), rot6d)
    torch.testing.assert_close(rot6d_to_axis_angle(axis_angle_to_rot6d(aa)), aa, atol=1e-5, rtol=0)


def test_rot6d_gram_schmidt_on_raw_input():
    raw = torch.randn(100, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3
    matrix = rot6d_to_matrix(raw)
    assert_rotation(matrix, atol=1e-10)
    # the first column keeps the direction of the first 3-vector
    torch.testing.assert_close(matrix[:, :, 0], torch.nn.functional.normalize(raw[:, :3], dim=-1))


@pytest.mark.parametrize("angle", [0.0, 1e-8, 1e-4, 0.5, math.pi - 1e-6])
def test_edge_angles_recover_axis_angle(angle):
    axis = torch.tensor([0.6, -0.48, 0.64], dtype=torch.float64)
    aa = axis * angle
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(aa)), aa, atol=1e-10, rtol=0)
    torch.testing.assert_close(rot6d_to_axis_angle(axis_angle_to_rot6d(aa)), aa, atol=1e-10, rtol=0)
    # float32: the matrix path is still accurate near pi (axis recovered with its sign)
    aa32 = aa.float()
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(aa32)), aa32, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, -0.48, 0.64]])
def test_angle_exactly_pi(dtype, axis):
    aa = torch.tensor(axis, dtype=dtype) * math.pi
    matrix = axis_angle_to_matrix(aa)
    recovered = matrix_to_axis_angle(matrix)
    assert abs(recovered.norm().item() - math.pi) < 1e-5
    # at exactly pi, +axis and -axis are the same rotation
    assert min((recovered - aa).abs().max().item(), (recovered + aa).abs().max().item()) < 1e-5
    torch.testing.assert_close(axis_angle_to_matrix(recovered), matrix, atol=1e-5, rtol=0)


def test_small_angle_matrix_is_accurate():
    # both branches (Taylor below 1e-2 rad, closed form above) against Rodrigues with a unit axis
    vectors = ([1e-8, 0, 0], [0, -3e-3, 0], [2e-3, 2e-3, -4e-3], [0.0099, 0, 0], [0.0101, 0, 0], [0.3, -0.2, 0.1])
    for v in vectors:
        t = math.sqrt(sum(c * c for c in v))
        u = [c / t for c in v]
        skew = torch.tensor([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]], dtype=torch.float64)
        expected = torch.eye(3, dtype=torch.float64) + math.sin(t) * skew + 2 * math.sin(t / 2) ** 2 * (skew @ skew)
        actual = axis_angle_to_matrix(torch.tensor(v, dtype=torch.float64))
        torch.testing.assert_close(actual, expected, atol=1e-15, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_shapes(dtype):
    aa = random_axis_angle(2 * 3 * 5, dtype, seed=4).reshape(2, 3, 5, 3)
    matrix = axis_angle_to_matrix(aa)
    assert matrix.shape == (2, 3, 5, 3, 3)
    assert matrix_to_axis_angle(matrix).shape == (2, 3, 5, 3)
    assert axis_angle_to_rot6d(aa).shape == (2, 3, 5, 6)
    assert rot6d_to_matrix(axis_angle_to_rot6d(aa)).shape == (2, 3, 5, 3, 3)
    assert rot6d_to_axis_angle(axis_angle_to_rot6d(aa)).shape == (2, 3, 5, 3)
    torch.testing.assert_close(matrix.reshape(-1, 3, 3), axis_angle_to_matrix(aa.reshape(-1, 3)))
    # a single un-batched rotation and an empty batch
    assert axis_angle_to_matrix(aa[0, 0, 0]).shape == (3, 3)
    assert matrix_to_axis_angle(torch.empty(0, 3, 3, dtype=dtype)).shape == (0, 3)


def _near_pi_axis_angle(dtype: torch.dtype) -> torch.Tensor:
    return (torch.tensor([0.6, -0.48, 0.64], dtype=torch.float64) * (math.pi - 1e-6)).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_axis_angle_to_matrix(dtype):
    zero = torch.zeros(3, dtype=dtype, requires_grad=True)
    matrix = axis_angle_to_matrix(zero)
    # dR/dv at 0 is the cross-product basis: R[2, 1] = v_x + O(v^2)
    (grad,) = torch.autograd.grad(matrix[2, 1], zero)
    torch.testing.assert_close(grad, torch.tensor([1.0, 0.0, 0.0], dtype=dtype))
    (grad,) = torch.autograd.grad(axis_angle_to_matrix(zero).square().sum() + axis_angle_to_matrix(zero).sum(), zero)
    assert torch.isfinite(grad).all()
    near_pi = _near_pi_axis_angle(dtype).requires_grad_(True)
    (grad,) = torch.autograd.grad(axis_angle_to_matrix(near_pi).sum(), near_pi)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_rot6d_paths(dtype):
    for aa in (torch.zeros(3, dtype=dtype), _near_pi_axis_angle(dtype)):
        aa = aa.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(axis_angle_to_rot6d(aa).sum(), aa)
        assert torch.isfinite(grad).all()
        rot6d = axis_angle_to_rot6d(aa.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(rot6d_to_axis_angle(rot6d).sum(), rot6d)
        assert torch.isfinite(grad).all()
        (grad,) = torch.autograd.grad(rot6d_to_matrix(rot6d).sum(), rot6d)
        assert torch.isfinite(grad).all()
    identity = torch.eye(3, dtype=dtype, requires_grad=True)
    (grad,) = torch.autograd.grad(matrix_to_axis_angle(identity).sum(), identity)
    assert torch.isfinite(grad).all()


def test_rot6d_to_axis_angle_gradient_matches_finite_differences():
    rot6d = axis_angle_to_rot6d(random_axis_angle(3, torch.float64, seed=5)).requires_grad_(True)
    assert torch.autograd.gradcheck(rot6d_to_axis_angle, (rot6d,))
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (torch.zeros(2, 3, dtype=torch.float64, requires_grad=True),))


# --- skeleton / forward kinematics --------------------------------------------------------------


def test_default_rest_joints_proportions():
    j = DEFAULT_REST_JOINTS
    assert j.shape == (55, 3) and j.dtype == np.float32
    assert np.abs(j[0]).max() < 0.05  # pelvis at the origin
    left_shoulder, right_shoulder = j[joint_index("left_shoulder")], j[joint_index("right_shoulder")]
    assert 0.30 < np.linalg.norm(left_shoulder - right_shoulder) < 0.40
    assert left_shoulder[0] > 0 > right_shoulder[0]  # subject's left at +x
    upper_arm = np.linalg.norm(j[joint_index("left_elbow")] - left_shoulder)
    forearm = np.linalg.norm(j[joint_index("left_wrist")] - j[joint_index("left_elbow")])
    assert 0.22 < upper_arm < 0.30 and 0.21 < forearm < 0.29
    assert j[joint_index("head")][1] > j[joint_index("neck")][1] > j[joint_index("spine3")][1] > 0
    finger_bones = [np.linalg.norm(j[i] - j[PARENTS[i]]) for i in range(25, 55) if PARENTS[i] >= 25]
    assert 0.015 < min(finger_bones) and max(finger_bones) < 0.045
    # the two sides mirror each other
    mirror = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    np.testing.assert_allclose(j[RIGHT_HAND], j[LEFT_HAND] * mirror)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fk_zero_pose_is_rest(dtype):
    rest = torch.as_tensor(DEFAULT_REST_JOINTS, dtype=dtype)
    identity = torch.eye(3, dtype=dtype).expand(2, 4, 55, 3, 3)
    joints = forward_kinematics(identity, rest)
    assert joints.shape == (2, 4, 55, 3) and joints.dtype == dtype
    torch.testing.assert_close(joints, rest.expand(2, 4, 55, 3))
    trans = torch.tensor([0.1, -0.2, 0.3], dtype=dtype)
    zero_pose = torch.zeros(55, 3, dtype=dtype)
    torch.testing.assert_close(forward_kinematics_axis_angle(zero_pose, rest, trans=trans), rest + trans)


def test_fk_root_rotation_rotates_about_root():
    rest = torch.as_tensor(DEFAULT_REST_JOINTS, dtype=torch.float64) + torch.tensor([0.0, 0.9, 0.0])
    poses = torch.zeros(55, 3, dtype=torch.float64)
    poses[0] = torch.tensor([0.3, -1.1, 0.4])
    trans = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    joints, rotations = forward_kinematics_axis_angle(poses, rest, trans=trans, return_rotations=True)
    root_rot = axis_angle_to_matrix(poses[0])
    expected = (rest - rest[0]) @ root_rot.T + rest[0] + trans
    torch.testing.assert_close(joints, expected)
    torch.testing.assert_close(rotations, root_rot.expand(55, 3, 3))


def test_fk_chain_and_rotations():
    poses = random_axis_angle(3 * 55, torch.float64, seed=6).reshape(3, 55, 3)
    rest = torch.as_tensor(DEFAULT_REST_JOINTS, dtype=torch.float64)
    joints, global_rot = forward_kinematics_axis_angle(poses, rest, return_rotations=True)
    local = axis_angle_to_matrix(poses)
    for j in (20, 37, 54):  # left wrist, left thumb1, right thumb3
        p = PARENTS[j]
        torch.testing.assert_close(global_rot[:, j], global_rot[:, p] @ local[:, j])
        torch.testing.assert_close(joints[:, j], joints[:, p] + (global_rot[:, p] @ (rest[j] - rest[p])))
    torch.testing.assert_close(forward_kinematics(local, rest), joints)
    # bone lengths are preserved
    bones = list(range(1, 55))
    parents = [PARENTS[j] for j in bones]
    torch.testing.assert_close(
        (joints[:, bones] - joints[:, parents]).norm(dim=-1), (rest[bones] - rest[parents]).norm(dim=-1).expand(3, -1)
    )


def test_fk_per_sample_rest_joints_and_validation():
    rest = torch.as_tensor(DEFAULT_REST_JOINTS, dtype=torch.float64)
    rests = torch.stack([rest, rest * 1.1])
    poses = random_axis_angle(55, torch.float64, seed=7).reshape(55, 3)
    joints = forward_kinematics_axis_angle(poses, rests)
    assert joints.shape == (2, 55, 3)
    torch.testing.assert_close(joints[1], forward_kinematics_axis_angle(poses, rest * 1.1))
    # numpy rest joints are accepted as well
    torch.testing.assert_close(forward_kinematics_axis_angle(poses, DEFAULT_REST_JOINTS), joints[0])
    with pytest.raises(ValueError, match="joint count"):
        forward_kinematics(torch.eye(3).expand(22, 3, 3), DEFAULT_REST_JOINTS)



def _per_joint_fk(rotmats, rest, parents, trans=None):
    """Reference: the SMPL-X joint recursion one joint at a time (positions, global rotations)."""
    rest = rest.expand(rotmats.shape[:-3] + rest.shape[-2:])
    rots, positions = [rotmats[..., 0, :, :]], [rest[..., 0, :]]
    for j in range(1, len(parents)):
        p = parents[j]
        positions.append(positions[p] + (rots[p] @ (rest[..., j, :] - rest[..., p, :])[..., None])[..., 0])
        rots.append(rots[p] @ rotmats[..., j, :, :])
    joints = torch.stack(positions, dim=-2)
    return (joints if trans is None else joints + trans[..., None, :]), torch.stack(rots, dim=-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fk_by_tree_level_matches_the_per_joint_recursion(dtype):
    poses = random_axis_angle(4 * 7 * 55, dtype, seed=11).reshape(4, 7, 55, 3)
    rotmats = axis_angle_to_matrix(poses)
    g = torch.Generator().manual_seed(11)
    scale = 1 + 0.2 * torch.rand(4, 1, 55, 3, generator=g, dtype=dtype)  # a rest skeleton per clip
    rest = torch.as_tensor(DEFAULT_REST_JOINTS, dtype=dtype) * scale
    trans = torch.randn(4, 7, 3, generator=g, dtype=dtype)
    joints, rotations = forward_kinematics(rotmats, rest, trans=trans, return_rotations=True)
    ref_joints, ref_rotations = _per_joint_fk(rotmats, rest, PARENTS, trans)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(joints, ref_joints, atol=tolerance, rtol=0)
    torch.testing.assert_close(rotations, ref_rotations, atol=tolerance, rtol=0)
    # any tree whose parents precede their children, siblings not adjacent and uneven levels included
    parents = (-1, 0, 0, 1, 0, 3, 2, 5, 2)
    local = rotmats[0, :, : len(parents)]
    small_rest = torch.randn(len(parents), 3, generator=g, dtype=dtype)
    torch.testing.assert_close(forward_kinematics(local, small_rest, parents=parents),
                               _per_joint_fk(local, small_rest, parents)[0], atol=tolerance, rtol=0)
    with pytest.raises(ValueError, match="not a tree"):
        forward_kinematics(local, small_rest, parents=(-1, 0, 0, 4, 0, 3, 2, 5, 2))


def test_fk_is_differentiable():
    poses = random_axis_angle(2 * 55, torch.float64, seed=12).reshape(2, 55, 3).requires_grad_()
    rest = torch.as_tensor(DEFAULT_REST_JOINTS, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: forward_kinematics_axis_angle(p, rest)[:, [20, 37, 54]], (poses,))

# --- body model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("smplx")
    write_synthetic_smplx(directory, gender="neutral", seed=0)
    return directory


@pytest.fixture(scope="module")
def body_model(smplx_dir):
    return load_body_model(str(smplx_dir))


def test_synthetic_model_rest_joints(body_model):
    rest = rest_joints_from_model(body_model)
    assert rest.shape == (55, 3) and rest.dtype == np.float32
    # plausible (close to the default skeleton) but not identical to it
    assert 1e-3 < np.abs(rest - DEFAULT_REST_JOINTS).max() < 0.1
    expected = body_model.J_regressor.numpy() @ body_model.v_template.numpy()
    np.testing.assert_allclose(rest, expected, atol=1e-6)


def test_fk_matches_smplx(body_model):
    batch = 4
    g = torch.Generator().manual_seed(8)
    poses = torch.randn(batch, 55, 3, generator=g) * 0.5
    trans = torch.randn(batch, 3, generator=g) * 0.3
    with torch.no_grad():
        out = body_model(
            global_orient=poses[:, 0],
            body_pose=poses[:, 1:22].reshape(batch, -1),
            jaw_pose=poses[:, JAW],
            leye_pose=poses[:, LEFT_EYE],
            reye_pose=poses[:, RIGHT_EYE],
            left_hand_pose=poses[:, LEFT_HAND].reshape(batch, -1),
            right_hand_pose=poses[:, RIGHT_HAND].reshape(batch, -1),
            betas=torch.zeros(batch, 10),
            expression=torch.zeros(batch, 10),
            transl=trans,
        )
    rest = torch.from_numpy(rest_joints_from_model(body_model))
    ours = forward_kinematics_axis_angle(poses, rest, trans=trans)
    torch.testing.assert_close(ours, out.joints[:, :55], atol=1e-4, rtol=0)
    # and through the 6D representation the model trains on
    via_6d = forward_kinematics(rot6d_to_matrix(axis_angle_to_rot6d(poses)), rest, trans=trans)
    torch.testing.assert_close(via_6d, out.joints[:, :55], atol=1e-4, rtol=0)


def test_load_body_model_by_gender(tmp_path):
    write_synthetic_smplx(tmp_path, gender="female", seed=1)
    model = load_body_model(str(tmp_path), gender="FEMALE")
    assert model.gender == "female"
    assert model.num_betas == 10 and model.num_expression_coeffs == 10
    assert not model.use_pca and model.flat_hand_mean
    assert torch.count_nonzero(model.pose_mean) == 0  # flat hand mean despite non-zero hands_mean


def test_load_body_model_bad_gender(smplx_dir):
    with pytest.raises(ValueError, match="neutral.*male.*female") as info:
        load_body_model(str(smplx_dir), gender="other")
    assert "'other'" in str(info.value)


def test_load_body_model_missing_file(smplx_dir):
    with pytest.raises(FileNotFoundError, match="SMPLX_MALE.npz") as info:
        load_body_model(str(smplx_dir), gender="male")
    assert str(smplx_dir / "SMPLX_MALE.npz") in str(info.value)


def test_resolve_rest_joints(smplx_dir, body_model, caplog):
    with caplog.at_level(logging.INFO, logger="signavatar.body.body_model"):
        default = resolve_rest_joints(None)
        from_model = resolve_rest_joints(str(smplx_dir))
    np.testing.assert_array_equal(default, DEFAULT_REST_JOINTS)
    assert default is not DEFAULT_REST_JOINTS  # a copy: callers may modify it
    np.testing.assert_allclose(from_model, rest_joints_from_model(body_model))
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "built-in approximate rest skeleton" in messages and str(smplx_dir) in messages

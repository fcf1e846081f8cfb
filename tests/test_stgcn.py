"""ST-GCN recognizer: graph, shapes, training on a separable toy set, checkpoints."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from signavatar import storage
from signavatar.body.joints import UPPER_BODY_JOINTS, joint_index
from signavatar.config import EvalConfig
from signavatar.evaluation.recognizer_training import (
    extract_features,
    load_recognizer,
    save_recognizer,
    train_recognizer,
)
from signavatar.evaluation.stgcn import STGCN, adjacency_matrix, graph_partitions, upper_body_edges

V = len(UPPER_BODY_JOINTS)
FRAMES = 16
TINY = dict(hidden=(8, 8, 16), feature_dim=12, dropout=0.0)


def local(name: str) -> int:
    return UPPER_BODY_JOINTS.index(joint_index(name))


def connected_component(adj: torch.Tensor, start: int) -> set[int]:
    seen, stack = {start}, [start]
    while stack:
        for w in torch.nonzero(adj[stack.pop()]).flatten().tolist():
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


def test_graph_is_a_connected_tree_over_the_44_joints():
    adj = adjacency_matrix()
    assert adj.shape == (V, V) == (44, 44)
    assert torch.equal(adj, adj.T)
    assert adj.diagonal().sum() == 0
    assert len(upper_body_edges()) == V - 1  # a tree
    assert connected_component(adj, 0) == set(range(V))
    # wrist: elbow + 5 finger bases
    for side in ("left", "right"):
        wrist = local(f"{side}_wrist")
        assert adj[wrist].sum() == 6
        assert adj[wrist, local(f"{side}_elbow")] == 1
        assert adj[wrist, local(f"{side}_thumb1")] == 1
    # spine1's parent (pelvis) is outside the set: it is the root, joined only to spine2
    assert adj[local("spine1")].sum() == 1 and adj[local("spine1"), local("spine2")] == 1
    # spine3 carries neck and both collars
    assert adj[local("spine3")].sum() == 4
    assert adj[local("jaw"), local("head")] == 1


def test_partitions_split_the_normalised_adjacency():
    uniform = graph_partitions("uniform")
    spatial = graph_partitions("spatial")
    assert uniform.shape == (1, V, V) and spatial.shape == (3, V, V)
    torch.testing.assert_close(uniform[0], uniform[0].T)
    torch.testing.assert_close(spatial.sum(0), uniform[0])
    # self subset is the diagonal; centripetal neighbour of the elbow is the shoulder (towards spine3)
    assert torch.count_nonzero(spatial[0] - torch.diag(spatial[0].diagonal())) == 0
    elbow, shoulder, wrist = local("left_elbow"), local("left_shoulder"), local("left_wrist")
    assert spatial[1, elbow, shoulder] > 0 and spatial[2, elbow, shoulder] == 0
    assert spatial[2, elbow, wrist] > 0 and spatial[1, elbow, wrist] == 0
    # normalisation D^-1/2 (A+I) D^-1/2: wrist (degree 7 with self loop) to elbow (degree 3)
    assert spatial[1, wrist, elbow].item() == pytest.approx(1 / np.sqrt(7 * 3))
    with pytest.raises(ValueError, match="graph strategy"):
        graph_partitions("distance")


@pytest.mark.parametrize("graph", ["spatial", "uniform"])
def test_shapes_and_features_logits_consistency(graph):
    torch.manual_seed(0)
    model = STGCN(5, num_frames=FRAMES, graph=graph, **TINY).eval()
    x = torch.randn(3, FRAMES, V * 6)
    logits, feats = model.forward_with_features(x)
    assert logits.shape == (3, 5) and feats.shape == (3, 12)
    assert (feats >= 0).all()  # post-ReLU penultimate layer
    torch.testing.assert_close(model(x), logits)
    torch.testing.assert_close(model.features(x), feats)
    torch.testing.assert_close(model.head(feats), logits)
    # each sample's output depends only on that sample in eval mode
    torch.testing.assert_close(model(x[1:2]), logits[1:2])
    # temporal stride 2 at each widening block after the first: 16 -> 8 frames
    assert [b.tcn[2].stride[0] for b in model.blocks] == [1, 1, 2]


@pytest.mark.parametrize("graph", ["spatial", "uniform"])
def test_graph_convolution_equals_the_einsum_of_st_gcn(graph):
    """The block's graph convolution (joints aggregated first, then the 1x1 convolution) is ST-GCN's
    ``einsum("nkctv,kwv->nctw", gcn(x), A)`` with learned edge importances, values and gradients."""
    torch.manual_seed(0)
    model = STGCN(5, num_frames=FRAMES, graph=graph, **TINY)
    block, importance = model.blocks[1], model.edge_importance[1]
    with torch.no_grad():
        importance.uniform_(0.5, 1.5)
        block.gcn.bias.uniform_(-1, 1)
    x = torch.randn(2, block.gcn.in_channels, FRAMES, V)
    k = model.partitions.shape[0]
    ours = block.graph_conv(x, model.partitions * importance)
    reference = torch.einsum("nkctv,kwv->nctw", block.gcn(x).view(2, k, -1, FRAMES, V), model.partitions * importance)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    (grad_ours,) = torch.autograd.grad(ours.square().sum(), importance)
    (grad_reference,) = torch.autograd.grad(reference.square().sum(), importance)
    torch.testing.assert_close(grad_ours, grad_reference, rtol=1e-4, atol=1e-4)


def test_default_architecture_and_input_validation():
    model = STGCN(10)
    assert model.feature_dim == 256 and len(model.blocks) == 5
    assert [b.tcn[2].kernel_size[0] for b in model.blocks] == [9] * 5
    with pytest.raises(ValueError, match=r"expected \[B, 60, 264\]"):
        model(torch.zeros(2, 30, 264))
    with pytest.raises(ValueError, match=r"expected \[B, 60, 264\]"):
        model(torch.zeros(2, 60, 6))


def toy_set(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """4 classes: identity 6D rotations plus a class-specific oscillation on one joint group."""
    rng = np.random.default_rng(seed)
    identity = np.tile(np.array([1, 0, 0, 0, 1, 0], np.float32), V)
    t = np.linspace(0, 2 * np.pi, FRAMES, dtype=np.float32)
    xs, ys = [], []
    for label in range(4):
        for _ in range(per_class):
            x = np.tile(identity, (FRAMES, 1)).reshape(FRAMES, V, 6)
            phase = rng.uniform(0, 2 * np.pi)
            joints = slice(label * 10, label * 10 + 6)
            x[:, joints, :3] += 0.5 * np.sin(t + phase)[:, None, None]
            x += rng.normal(0, 0.05, x.shape).astype(np.float32)
            xs.append(x.reshape(FRAMES, V * 6))
            ys.append(label)
    return np.stack(xs), np.array(ys)


def tiny_cfg(**kw) -> EvalConfig:
    base = dict(
        recognizer_epochs=30,
        recognizer_batch_size=16,
        recognizer_lr=3e-3,
        recognizer_hidden=TINY["hidden"],
        recognizer_feature_dim=TINY["feature_dim"],
        recognizer_dropout=0.0,
        seed=0,
        feature_batch_size=7,
    )
    return EvalConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    x, y = toy_set(16, seed=0)
    val = toy_set(8, seed=1)
    model, history = train_recognizer(x, y, 4, tiny_cfg(), val=val, device="cpu")
    return model, history, val


def test_recognizer_learns_a_separable_toy_set(trained):
    model, history, (val_x, val_y) = trained
    assert len(history) == 30
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_acc"] >= 0.95
    assert all(h["seconds"] > 0 for h in history)
    assert not model.training
    feats, logits = extract_features(model, val_x, batch_size=7)  # batches of 7 over 32 clips
    assert feats.shape == (32, 12) and logits.shape == (32, 4) and feats.dtype == np.float32
    assert (logits.argmax(1) == val_y).mean() >= 0.95
    with torch.no_grad():
        full_logits, full_feats = model.forward_with_features(torch.from_numpy(val_x))
    np.testing.assert_allclose(feats, full_feats.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits, full_logits.numpy(), rtol=1e-5, atol=1e-5)


def test_training_is_seeded():
    x, y = toy_set(4, seed=2)
    cfg = tiny_cfg(recognizer_epochs=2)
    a, ha = train_recognizer(x, y, 4, cfg, device="cpu")
    b, hb = train_recognizer(x, y, 4, cfg, device="cpu")
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]
    np.testing.assert_array_equal(extract_features(a, x)[1], extract_features(b, x)[1])


def test_training_rejects_bad_labels():
    x, y = toy_set(2, seed=3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        train_recognizer(x, y, 3, tiny_cfg(recognizer_epochs=1), device="cpu")


def test_save_load_round_trip_local(trained, tmp_path):
    model, _, (val_x, _) = trained
    names = ["a", "b", "c", "d"]
    uri = str(tmp_path / "recognizer" / "stgcn.pt")
    save_recognizer(model, names, uri)
    raw = torch.load(io.BytesIO(storage.read_bytes(uri)), weights_only=True)
    assert raw["class_names"] == names and raw["config"]["hidden"] == [8, 8, 16]
    loaded, loaded_names = load_recognizer(uri)
    assert loaded_names == names and not loaded.training
    np.testing.assert_array_equal(extract_features(loaded, val_x)[1], extract_features(model, val_x)[1])
    with pytest.raises(ValueError, match="class names"):
        save_recognizer(model, names[:3], uri)


def test_load_rejects_other_checkpoints(tmp_path):
    uri = str(tmp_path / "other.pt")
    buffer = io.BytesIO()
    torch.save({"state_dict": {}}, buffer)
    storage.write_bytes(uri, buffer.getvalue())
    with pytest.raises(ValueError, match="not a recognizer checkpoint"):
        load_recognizer(uri)


def test_save_load_round_trip_s3(trained, s3_bucket):
    model, _, (val_x, _) = trained
    uri = f"{s3_bucket}/eval/stgcn.pt"
    save_recognizer(model, ["a", "b", "c", "d"], uri)
    loaded, _ = load_recognizer(uri)
    np.testing.assert_array_equal(extract_features(loaded, val_x)[0], extract_features(model, val_x)[0])


def test_bf16_inference_stays_within_a_fraction_of_a_percent_of_fp32(tmp_path):
    """eval.recognizer_precision=bf16: the loaded recognizer scores under bfloat16 autocast where the
    device has it natively (features within 2% of fp32 on a trained toy model), fp32 elsewhere."""
    from signavatar.evaluation.recognizer_training import inference_dtype

    torch.manual_seed(0)
    model = STGCN(4, num_frames=FRAMES, **TINY).eval()
    save_recognizer(model, list("abcd"), str(tmp_path / "r.pt"))
    exact, _ = load_recognizer(str(tmp_path / "r.pt"))
    fast, _ = load_recognizer(str(tmp_path / "r.pt"), precision="bf16")
    assert exact.inference_dtype is None
    assert fast.inference_dtype == inference_dtype("bf16", torch.device("cpu"))
    x = torch.randn(6, FRAMES, V * 6)
    (f32, _), (f16, _) = extract_features(exact, x), extract_features(fast, x)
    if fast.inference_dtype is None:  # no native bf16 here: the same fp32 path
        np.testing.assert_array_equal(f16, f32)
    else:
        assert np.abs(f16 - f32).max() <= 0.02 * np.abs(f32).max() and not np.array_equal(f16, f32)

"""ST-GCN recognizer (Yan et al., AAAI 2018) over the 44 upper-body joints.

It is the feature extractor behind the paper metrics (Action2Motion / ACTOR protocol): trained as a
gloss classifier on Raw train clips, its penultimate vector feeds FID, Diversity and Multimodality.

Input is the ``MotionClip.to_features()`` layout: ``[B, T, 44 * 6]``, joint-major (the 6D rotation
of ``UPPER_BODY_JOINTS[0]`` first), reshaped internally to ST-GCN's ``[B, C, T, V]``.

Graph. Vertices are ``UPPER_BODY_JOINTS`` in that order. Each joint is joined to its SMPL-X parent
(``PARENTS``); a joint whose parent is outside the set is joined to its nearest ancestor inside it,
and a joint with no such ancestor (spine1, whose parent is the pelvis) is the root of the tree. The
result is a tree with 43 edges. Adjacency with self loops is normalised symmetrically,
``D^-1/2 (A + I) D^-1/2`` (Kipf & Welling), instead of ST-GCN's ``A D^-1``: same receptive field,
symmetric operator.

Partition strategies (``graph=``):

* ``"spatial"`` (default, ST-GCN's best): three subsets per vertex by hop distance to the centre
  joint ``spine3`` (the chest, where neck and both collars attach): the vertex itself, its
  centripetal neighbour (closer to the centre) and its centrifugal neighbours (farther). In a tree
  no neighbour is at the same distance, so the subsets are exactly {self}, {towards centre},
  {away from centre}. The three matrices are the matching entries of the normalised adjacency, so
  they sum to the uniform one.
* ``"uniform"``: one subset, the normalised adjacency itself.

Every block learns an edge-importance mask multiplied onto the partitions (as in ST-GCN).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import torch
from torch import nn

from signavatar.body.joints import PARENTS, UPPER_BODY_JOINTS, joint_index

GraphStrategy = Literal["spatial", "uniform"]

NUM_GRAPH_JOINTS = len(UPPER_BODY_JOINTS)
CENTER_JOINT = "spine3"
_LOCAL = {joint: i for i, joint in enumerate(UPPER_BODY_JOINTS)}


def upper_body_edges() -> list[tuple[int, int]]:
    """``(child, parent)`` pairs in local indices (positions in ``UPPER_BODY_JOINTS``)."""
    edges = []
    for joint in UPPER_BODY_JOINTS:
        ancestor = PARENTS[joint]
        while ancestor != -1 and ancestor not in _LOCAL:
            ancestor = PARENTS[ancestor]
        if ancestor != -1:
            edges.append((_LOCAL[joint], _LOCAL[ancestor]))
    return edges


def adjacency_matrix() -> torch.Tensor:
    """Binary symmetric adjacency ``[44, 44]`` without self loops."""
    a = torch.zeros(NUM_GRAPH_JOINTS, NUM_GRAPH_JOINTS)
    for child, parent in upper_body_edges():
        a[child, parent] = a[parent, child] = 1.0
    return a


def hop_distances(source: int) -> torch.Tensor:
    """Hops from local vertex ``source`` to every vertex (breadth-first; -1 if unreachable)."""
    a = adjacency_matrix()
    dist = torch.full((NUM_GRAPH_JOINTS,), -1, dtype=torch.long)
    dist[source] = 0
    queue = deque([source])
    while queue:
        v = queue.popleft()
        for w in torch.nonzero(a[v]).flatten().tolist():
            if dist[w] < 0:
                dist[w] = dist[v] + 1
                queue.append(w)
    return dist


def graph_partitions(strategy: GraphStrategy = "spatial") -> torch.Tensor:
    """Normalised adjacency split into partitions, ``[K, 44, 44]`` (K = 3 spatial, 1 uniform).

    Entry ``[k, i, j]`` weights what vertex ``i`` receives from vertex ``j``."""
    a = adjacency_matrix() + torch.eye(NUM_GRAPH_JOINTS)
    inv_sqrt_deg = a.sum(1).rsqrt()
    norm = inv_sqrt_deg[:, None] * a * inv_sqrt_deg[None, :]
    if strategy == "uniform":
        return norm[None]
    if strategy != "spatial":
        raise ValueError(f"unknown graph strategy {strategy!r}; expected 'spatial' or 'uniform'")
    hops = hop_distances(_LOCAL[joint_index(CENTER_JOINT)])
    receiver, sender = hops[:, None], hops[None, :]
    masks = (sender == receiver, sender < receiver, sender > receiver)
    return torch.stack([norm * m for m in masks])


class _STGCNBlock(nn.Module):
    """Graph convolution over joints, then a temporal convolution, with a residual path."""

    def __init__(
        self, in_channels: int, out_channels: int, num_subsets: int, kernel: int, stride: int, dropout: float, residual: bool
    ) -> None:
        super().__init__()
        self.num_subsets = num_subsets
        self.gcn = nn.Conv2d(in_channels, out_channels * num_subsets, kernel_size=1)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        if not residual:
            self.residual: nn.Module | None = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor, partitions: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.graph_conv(x, partitions))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)

    def graph_conv(self, x: torch.Tensor, partitions: torch.Tensor) -> torch.Tensor:
        """``sum_k A_k`` applied over the joints to ``gcn(x)``'s k-th channel group: ST-GCN's graph
        convolution, computed in the cheaper order. Both steps are linear, so the joints are
        aggregated first, on the ``C_in`` input channels instead of ``K * C_out`` outputs, in one
        GEMM ``[N C T, V] @ [V, K V]``, and the 1x1 convolution then maps the ``K * C_in``
        aggregated channels to ``C_out``; its bias, aggregated too, becomes a per-joint bias
        ``sum_k b_k rowsum(A_k)``. Same parameters and, to float rounding, the same values as
        ``einsum("nkctv,kwv->nctw", gcn(x), A)``, at about twice the speed of the whole model on a
        CPU (the dense einsum over 3 x 44 x 44 partitions was a third of its time)."""
        n, c, t, v = x.shape
        k = self.num_subsets
        spread = partitions.permute(2, 0, 1).reshape(v, k * v)  # [v, (k w)]
        aggregated = (x.reshape(-1, v) @ spread).view(n, c, t, k, v).permute(0, 3, 1, 2, 4).reshape(n, k * c, t, v)
        weight = self.gcn.weight.view(k, -1, c).transpose(0, 1).reshape(-1, k * c, 1, 1)  # [C_out, (k C_in)]
        bias = torch.einsum("ko,kw->ow", self.gcn.bias.view(k, -1), partitions.sum(2))  # [C_out, w]
        return nn.functional.conv2d(aggregated, weight) + bias[:, None, :]


class STGCN(nn.Module):
    """Gloss classifier; ``features`` is the penultimate vector used by the metrics.

    Blocks follow ``hidden``; a block that widens the channels also halves time (stride 2), as in
    ST-GCN. After global average pooling over time and joints, a linear layer + ReLU gives the
    ``feature_dim`` feature vector, and a linear classifier (after dropout) the logits.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 6,
        num_frames: int = 60,
        hidden: tuple[int, ...] = (64, 64, 128, 128, 256),
        feature_dim: int = 256,
        dropout: float = 0.2,
        graph: GraphStrategy = "spatial",
        temporal_kernel: int = 9,
    ) -> None:
        super().__init__()
        if num_classes < 1 or not hidden or temporal_kernel % 2 == 0:
            raise ValueError(
                f"need num_classes >= 1, non-empty hidden and an odd temporal_kernel; "
                f"got {num_classes}, {hidden}, {temporal_kernel}"
            )
        self._config: dict[str, Any] = dict(
            num_classes=num_classes,
            in_channels=in_channels,
            num_frames=num_frames,
            hidden=list(hidden),
            feature_dim=feature_dim,
            dropout=dropout,
            graph=graph,
            temporal_kernel=temporal_kernel,
        )
        self.num_classes = num_classes
        self.inference_dtype: torch.dtype | None = None  # autocast dtype of extract_features (load_recognizer)
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.feature_dim = feature_dim
        self.register_buffer("partitions", graph_partitions(graph), persistent=False)
        num_subsets = self.partitions.shape[0]
        self.data_bn = nn.BatchNorm1d(in_channels * NUM_GRAPH_JOINTS)
        channels = (in_channels, *hidden)
        self.blocks = nn.ModuleList(
            _STGCNBlock(
                c_in,
                c_out,
                num_subsets,
                temporal_kernel,
                stride=2 if i > 0 and c_out > c_in else 1,
                dropout=dropout,
                residual=i > 0,
            )
            for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]))
        )
        self.edge_importance = nn.ParameterList(nn.Parameter(torch.ones_like(self.partitions)) for _ in self.blocks)
        self.embed = nn.Sequential(nn.Linear(hidden[-1], feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain types (stored in checkpoints)."""
        return dict(self._config, hidden=list(self._config["hidden"]))

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.num_frames, NUM_GRAPH_JOINTS * self.in_channels)
        if x.ndim != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"STGCN input has shape {tuple(x.shape)}; expected [B, {expected[0]}, {expected[1]}]")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, 264] -> [B, feature_dim]``, the penultimate (post-ReLU) vector."""
        self._check_input(x)
        b, t, _ = x.shape
        # Normalise each (joint, channel) over batch and time, as ST-GCN's data_bn.
        h = self.data_bn(x.transpose(1, 2)).view(b, NUM_GRAPH_JOINTS, self.in_channels, t)
        h = h.permute(0, 2, 3, 1).contiguous()  # [B, C, T, V]
        for block, importance in zip(self.blocks, self.edge_importance):
            h = block(h, self.partitions * importance)
        return self.embed(h.mean(dim=(2, 3)))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, num_classes], features [B, feature_dim])`` from one pass."""
        feats = self.features(x)
        return self.head(feats), feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]

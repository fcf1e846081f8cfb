"""A tiny trained SignAvatar checkpoint plus the tiny CLIP it was conditioned on, built once per
test session and shared by every test that needs a real checkpoint (serving, evaluation, ...).

The CLIP weights sit in a ``local-dir:`` folder (config beside the weights) so that any process
(a Ray worker, a Serve replica) can load the same encoder by path alone, and the checkpoint's
gloss embeddings are computed with that very encoder: known glosses and CLIP-encoded text agree.

Tests use the session fixture ``tiny_checkpoint`` (tests/conftest.py), which calls
``build_tiny_checkpoint``; it reuses artifacts already on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from signavatar.config import ClipEncoderConfig, SignAvatarConfig, load_config
from signavatar.model.clip_encoder import LOCAL_DIR_PREFIX, ClipConditioner
from signavatar.model.checkpoint import FILENAME

# Small enough to train in a few seconds on one core; 3 glosses, 16-frame clips. ``clip.pretrained``
# must be named; a caller that needs the tiny CLIP overrides it (the last override wins).
TINY_OVERRIDES = (
    "clip.pretrained=random", "model.latent_dim=32", "model.num_layers=2", "model.num_heads=2", "model.ff_size=64", "model.dropout=0.0",
    "model.num_frames=16", "data.num_frames=16", "data.synthetic.num_glosses=3", "data.synthetic.clips_per_gloss=5",
    "train.batch_size=8", "train.lr=1e-3", "train.epochs=20", "train.checkpoint_every=20",
)


@dataclass(frozen=True)
class TinyCheckpoint:
    checkpoint: str  # directory holding checkpoint.pt
    clip_dir: Path  # open_clip local-dir layout
    config: SignAvatarConfig  # the training config (clip.pretrained points at clip_dir)
    glosses: list[str]

    @property
    def clip(self) -> ClipEncoderConfig:
        return self.config.clip


def build_tiny_checkpoint(directory: Path) -> TinyCheckpoint:
    """Train (or reuse) a tiny checkpoint under ``directory``: ``clip/`` and ``checkpoint/``."""
    from signavatar.data.synthetic import generate_corpus
    from signavatar.model.checkpoint import load_checkpoint
    from signavatar.training.data import build_feature_set
    from signavatar.training.loop import train_plain
    from tests.support.tiny_clip import write_tiny_clip_dir

    directory = Path(directory)
    clip_dir = directory / "clip"
    checkpoint_dir = directory / "checkpoint"
    config = load_config(None, [*TINY_OVERRIDES, f"clip.pretrained={LOCAL_DIR_PREFIX}{clip_dir}"])
    if not (checkpoint_dir / FILENAME).is_file():
        write_tiny_clip_dir(clip_dir)
        clips = [c for c in generate_corpus(config.data.synthetic) if c.split == "train"]
        train = build_feature_set(clips, config.data.num_frames)
        embeddings = ClipConditioner(config.clip).encode_text(train.glosses)
        train_plain(config, train, embeddings, checkpoint_dir=str(checkpoint_dir))
    glosses = list(load_checkpoint(str(checkpoint_dir))["glosses"])
    return TinyCheckpoint(str(checkpoint_dir), clip_dir, config, glosses)


def write_legacy_checkpoint(directory: Path, gloss_embeddings: "torch.Tensor", glosses: list[str]) -> str:
    """A checkpoint exactly as saved before ``model.token_source`` and ``clip.pretrained: random``
    existed: global learned mu/sigma tokens in the weights, no ``token_source`` key in the saved
    model config and ``clip.pretrained: null`` (which then meant a seeded random CLIP). The weights
    are an untrained tiny model's; returns the checkpoint directory."""
    import torch

    from signavatar.model.checkpoint import save_checkpoint
    from signavatar.model.normalizer import FeatureNormalizer
    from signavatar.training.loop import TrainingState
    from signavatar.model.cvae import SignAvatarCVAE
    from signavatar.motion.clip import FEATURE_DIM

    config = load_config(None, [*TINY_OVERRIDES, "model.token_source=learned"])
    torch.manual_seed(0)
    model = SignAvatarCVAE(config.model, feature_dim=FEATURE_DIM, cond_dim=gloss_embeddings.shape[1])
    normalizer = FeatureNormalizer(torch.zeros(FEATURE_DIM), torch.ones(FEATURE_DIM))
    state = TrainingState(model, torch.optim.AdamW(model.parameters()), normalizer, list(glosses), gloss_embeddings,
                          config).checkpoint_state()
    del state["config"]["model"]["token_source"]
    state["config"]["clip"]["pretrained"] = None
    save_checkpoint(state, directory)
    return str(directory)

"""Request and response models of the HTTP API (they are also what the OpenAPI docs show).

Range limits that depend on the deployment (``ServeConfig.max_num_samples`` etc.) are checked in
``signavatar.serving.limits``; the models here fix types and static bounds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Gender = Literal["neutral", "male", "female"]
MAX_TEMPERATURE = 5.0  # the quality report's temperature curve goes to 3; past that, motion falls apart
OutputFormat = Literal["json", "npz", "glb", "bvh", "pose"]
_FORMAT_HELP = ("json: clips in the body; npz: AMASS .npz; glb: the avatar animated by the clip (glTF 2.0 binary); "
                "bvh: the SMPL-X skeleton animation; pose: MediaPipe Holistic keypoints (pose-format); "
                "several clips come as a .zip")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateOptions(_Strict):
    num_samples: int = Field(1, ge=1, description="clips to sample for the input (z ~ N(0, I))")
    seed: int = Field(0, ge=0, lt=2**63, description="same seed, same input -> same clips")
    num_frames: int | None = Field(None, ge=2, description="frames per clip; default: the model's length")
    temperature: float | None = Field(None, ge=0, le=MAX_TEMPERATURE, allow_inf_nan=False,
                                      description="T of the draws (the prior's spread scaled by T): higher varies "
                                                  "more, 0 is the mean motion; default: the checkpoint's")
    format: OutputFormat = Field("json", description=_FORMAT_HELP)
    gender: Gender = Field("neutral", description="body model named in the .npz output")
    allow_unknown: bool = Field(False, description="words outside the vocabulary go through CLIP instead of being "
                                "refused (sentence glosses always; a text or an image when the model's CLIP is "
                                "untrained, which makes them noise: each clip's source says untrained_encoder)")


MAX_SENTENCE_GLOSSES = 32
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MAX_OPTION_FRAMES = 120  # hold / transition frames asked for one join (4 s at 30 fps)
_SPEED = Field(None, ge=MIN_SPEED, le=MAX_SPEED, allow_inf_nan=False, description="2 = twice as fast; default 1")
_HOLD = Field(None, ge=0, le=MAX_OPTION_FRAMES, description="frames the sign's last pose is held; default: the "
              "model's sentence config")
_TRANSITION = Field(None, ge=0, le=MAX_OPTION_FRAMES, description="frames of the transition to the next sign; "
                    "default: adaptive to the distance between the poses")


class SentenceGlossOptions(_Strict):
    """A gloss of a sentence with its own options (they override the request's)."""

    gloss: str
    speed: float | None = _SPEED
    hold_frames: int | None = _HOLD
    transition_frames: int | None = _TRANSITION


class GenerateRequest(GenerateOptions):
    """JSON body of ``POST /generate``: a ``text``, or a sentence (``glosses``, or ``text`` with
    ``sentence: true``: its words are the glosses, or ``fingerspell``: a word's letters) answered
    as one clip per sample with its ``segments``; an image instead comes as multipart field
    ``image``."""

    text: str | None = Field(None, description="a gloss or a short text, encoded by CLIP unless it is a known gloss")
    glosses: list[str | SentenceGlossOptions] | None = Field(
        None, min_length=1, max_length=MAX_SENTENCE_GLOSSES, description="a signed sentence: its glosses in order")
    fingerspell: str | None = Field(None, description="a word spelled with the manual alphabet (letters a-z): a "
                                                      "sentence of its letters joined by short transitions")
    sentence: bool = Field(False, description="sign 'text' as a sentence of its whitespace-separated glosses")
    speed: float | None = _SPEED
    hold_frames: int | None = _HOLD
    transition_frames: int | None = _TRANSITION

    @model_validator(mode="after")
    def _one_input(self) -> GenerateRequest:
        if sum(x is not None for x in (self.text, self.glosses, self.fingerspell)) != 1:
            raise ValueError("give exactly one of 'text', 'glosses' or 'fingerspell'")
        if not self.is_sentence:
            extra = [name for name in ("speed", "hold_frames", "transition_frames")
                     if name in self.model_fields_set]
            if extra:
                raise ValueError(f"{extra} apply to sentences: give 'glosses', 'fingerspell', or 'text' with "
                                 "'sentence': true")
        return self

    @property
    def is_sentence(self) -> bool:
        return self.glosses is not None or self.fingerspell is not None or self.sentence


class ReconstructOptions(_Strict):
    """Form fields of ``POST /reconstruct`` besides the uploaded ``file``."""

    gloss: str = Field(..., description="the word signed in the upload (conditions the CVAE)")
    seed: int = Field(0, ge=0, lt=2**63, description="seed of the posterior sample")
    format: OutputFormat = Field("json", description=_FORMAT_HELP)
    gender: Gender = "neutral"


class SegmentJSON(BaseModel):
    """Frames ``[start, end)`` of a sentence: a sign (``gloss`` names it) or a transition."""

    gloss: str
    start: int
    end: int
    kind: Literal["sign", "transition"]


class MotionClipJSON(BaseModel):
    """A motion clip as JSON (``signavatar.motion.json_io``): axis-angle, SMPL-X joint order."""

    gloss: str
    clip_id: str
    split: str
    fps: float
    num_frames: int
    source: dict[str, Any]
    poses: list[list[list[float]]] = Field(..., description="[T, 55, 3] axis-angle")
    expression: list[list[float]] = Field(..., description="[T, 10]")
    betas: list[float] = Field(..., description="[10]")
    trans: list[list[float]] = Field(..., description="[T, 3]")
    confidence: list[float] | None = None
    segments: list[SegmentJSON] | None = Field(None, description="a sentence's signs and transitions, in order")


class GenerateResponse(BaseModel):
    clips: list[MotionClipJSON]
    gender: Gender


class ReconstructResponse(BaseModel):
    clip: MotionClipJSON
    gender: Gender


class GlossesResponse(BaseModel):
    glosses: list[str] = Field(..., description="vocabulary with cached embeddings (no CLIP forward needed)")
    embedding_dim: int
    num_frames: int = Field(..., description="default length of generated clips")
    fps: float


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    ready: bool
    device: str
    glosses: int
    video_estimator: str | None


class ErrorResponse(BaseModel):
    error: str = Field(..., description="machine-readable code, e.g. invalid_input")
    message: str = Field(..., description="what is wrong, naming the field or input")
    request_id: str

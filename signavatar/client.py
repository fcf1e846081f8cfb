"""Python client of the SignAvatar Serve endpoint (``signavatar.serving.app``); plain HTTP, no Ray.

    client = SignAvatarClient("http://127.0.0.1:8000")
    clips = client.generate("drink", num_samples=3, seed=1)
    [sentence] = client.generate(glosses=["hello", "coffee", "please"])   # one clip, with segments
    rec = client.reconstruct("clip.npz", gloss="drink")

Clips travel as AMASS-style ``.npz`` (exact float32, compact) and come back as ``MotionClip``s.
An error answer raises ``ServiceRequestError`` carrying the server's code, message and request id;
an endpoint that cannot be reached raises ``ConnectionError`` and one that does not answer within
``timeout`` seconds ``TimeoutError``, each naming the URL.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from signavatar.motion.amass import save_npz
from signavatar.motion.clip import MotionClip
from signavatar.motion.json_io import clip_to_dict
from signavatar.motion.payload import clips_from_payload

DEFAULT_URL = os.environ.get("SIGNAVATAR_URL", "http://127.0.0.1:8000")
OUT_SUFFIXES = (".npz", ".json")  # what save_clips writes
Upload = str | os.PathLike | bytes


class ServiceRequestError(RuntimeError):
    def __init__(self, status: int, code: str, message: str, request_id: str | None) -> None:
        super().__init__(f"HTTP {status} {code}: {message}" + (f" (request id {request_id})" if request_id else ""))
        self.status, self.code, self.message, self.request_id = status, code, message, request_id


def _file(upload: Upload, filename: str | None, default_name: str) -> tuple[str, bytes]:
    if isinstance(upload, bytes):
        return filename or default_name, upload
    path = Path(upload)
    return filename or path.name, path.read_bytes()


class SignAvatarClient:
    def __init__(self, url: str = DEFAULT_URL, timeout: float = 120.0, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise TimeoutError(f"{method} {self.url}{path}: no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            errno = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))  # the socket's reason, inside urllib3's text
            reason = errno.group(0).strip() if errno else type(exc).__name__
            raise ConnectionError(f"{method} {self.url}{path}: no SignAvatar endpoint reachable ({reason})") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": "http_error", "message": response.text[:500]}
            raise ServiceRequestError(response.status_code, body.get("error", "http_error"), body.get("message", ""),
                                      body.get("request_id") or response.headers.get("x-request-id"))
        return response

    def health(self) -> bool:
        return self._request("GET", "/healthz").json()["status"] == "ok"

    def ready(self) -> dict[str, Any]:
        return self._request("GET", "/readyz").json()

    def glosses(self) -> list[str]:
        return self._request("GET", "/glosses").json()["glosses"]

    def generate(self, text: str | None = None, image: Upload | None = None, num_samples: int = 1, seed: int = 0,
                 num_frames: int | None = None, image_name: str | None = None, glosses: Sequence[str] | None = None,
                 temperature: float | None = None, allow_unknown: bool = False, fingerspell: str | None = None,
                 **sentence: Any) -> list[MotionClip]:
        """Clips for a text, an image (path or png/jpeg bytes), a sentence of ``glosses`` or a word to
        ``fingerspell`` (letter by letter); exactly one of them. ``temperature``: of the draws (None: the checkpoint's). ``allow_unknown``: words
        outside the vocabulary (and images, where the model's CLIP is untrained) are encoded with
        CLIP instead of refused. ``sentence``: the request's sentence options (``speed``,
        ``hold_frames``, ``transition_frames``; see ``signavatar.serving.schemas``)."""
        if sum(x is not None for x in (text, image, glosses, fingerspell)) != 1:
            raise ValueError("give exactly one of text / image / glosses / fingerspell")
        options: dict[str, Any] = {"num_samples": num_samples, "seed": seed, "format": "npz"}
        if num_frames is not None:
            options["num_frames"] = num_frames
        if temperature is not None:
            options["temperature"] = temperature
        if allow_unknown:
            options["allow_unknown"] = True
        if glosses is not None:
            response = self._request("POST", "/generate", json={"glosses": list(glosses), **sentence, **options})
        elif fingerspell is not None:
            response = self._request("POST", "/generate", json={"fingerspell": fingerspell, **sentence, **options})
        elif text is not None:
            response = self._request("POST", "/generate", json={"text": text, **options})
        else:
            name, data = _file(image, image_name, "image.png")
            response = self._request("POST", "/generate", files={"image": (name, data)},
                                     data={k: str(v).lower() if isinstance(v, bool) else str(v)
                                           for k, v in options.items()})
        return clips_from_payload(response.content, response.headers.get("content-type", ""))

    def reconstruct(self, upload: Upload, gloss: str, seed: int = 0, filename: str | None = None) -> MotionClip:
        """Reconstruct a motion clip (.npz / .json) or a video (mp4/webm/mov) of ``gloss``; with
        bytes, ``filename``'s extension tells the server what they are."""
        name, data = _file(upload, filename, "clip.npz")
        response = self._request("POST", "/reconstruct", files={"file": (name, data)},
                                 data={"gloss": gloss, "seed": str(seed), "format": "npz"})
        return clips_from_payload(response.content, response.headers.get("content-type", ""))[0]


def save_clips(clips: list[MotionClip], out: str | os.PathLike, gender: str = "neutral") -> list[str]:
    """Write clips to ``out`` (``.npz``: AMASS-style, ``.json``: our JSON); several clips get
    ``_<i>`` before the suffix. Returns the paths written."""
    out = Path(out)
    if out.suffix not in OUT_SUFFIXES:
        raise ValueError(f"--out {out}: use a .npz or .json file name")
    paths = [out] if len(clips) == 1 else [out.with_name(f"{out.stem}_{i}{out.suffix}") for i in range(len(clips))]
    for clip, path in zip(clips, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".npz":
            save_npz(clip, str(path), gender)
        else:
            path.write_text(json.dumps(clip_to_dict(clip)))
    return [str(p) for p in paths]

"""The Ray Serve application: a FastAPI ingress composed with the model (and, when configured, a
video estimator) through ``DeploymentHandle``s.

    serve run serve_configs/local.yaml          # import_path: signavatar.serving.app:build_app

Deployments (names used in serve configs' ``deployments:`` overrides):

- ``SignAvatarIngress``: HTTP, input checking, response encoding; no model in it, except with
  ``model_in_ingress`` (serve_configs/local.yaml): then the replica holds ``SignAvatarModel``'s
  object itself and calls it without a handle hop (one process less per request on one machine;
  the model's batching and worker thread unchanged), and there is no ``SignAvatarModel`` deployment.
- ``SignAvatarModel``: the checkpoint (+ CLIP). Generation requests that arrive while the model is
  busy share its next call (``batching.Batcher``: no wait when it is idle) and one conditioning
  step (``engine.generate_jobs``); model work runs on one worker thread so the replica keeps
  accepting requests meanwhile. A sentence
  (``{"glosses": [...]}``) is one call of its own (``engine.generate_sentence``).
- ``VideoEstimator`` (only with ``video_estimator`` set): video -> motion clip.

Routes: ``POST /generate``, ``POST /reconstruct``, ``GET /glosses``, ``GET /healthz``,
``GET /readyz``, ``/openapi.json`` and the API docs at ``/docs`` (Swagger UI served from the
viewer bundle, nothing from a CDN), and the browser viewer's ``GET /``, ``/static/...`` and
``GET /skeleton`` (``signavatar.serving.viewer``).

Every error is JSON ``{error, message, request_id}`` (``signavatar.serving.errors``). What a request
may cost and the replica's budgets are ``signavatar.serving.admission``; receiving bodies (limits,
timeouts, spooling) ``bodies``; checking decoded inputs ``limits``; JSON clips are parsed in a child
process (``json_offload``); each ``/generate`` answer's ``server-timing`` is ``timing``.

Why one module of this size: Serve composes the deployments by their class objects in
``build_app``, and every route of the ingress is a method of one class (FastAPI's ``@serve.ingress``);
the work each route does lives in ``engine``, ``admission``, ``bodies``, ``limits``, ``batching``,
``errors``, ``video`` and ``viewer``.
"""

# No ``from __future__ import annotations`` here: FastAPI resolves the route methods' annotations
# (``Request``) at runtime, which fails on string annotations of methods of a Serve ingress class.
import asyncio
import contextlib
import inspect
import json
import time
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any, BinaryIO

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from signavatar.avatar.export import FORMATS as AVATAR_FORMATS
from signavatar.avatar.export import export_payload
from signavatar.config import ServeConfig, split_factory_spec
from signavatar.model.sentence import SentenceGloss, SentenceTooLongError, UnknownGlossError, fingerspelled
from signavatar.model.vocabulary import resolve_gloss, unknown_words_message
from signavatar.motion.clip import MotionClip
from signavatar.motion.payload import clips_to_json_payload, clips_to_npz_payload, safe_stem
from signavatar.serving import admission, bodies, limits, timing
from signavatar.serving.batching import Batcher, Timing
from signavatar.serving.engine import GenerationJob, SentenceJob, generate_jobs, generate_sentence, load_avatar
from signavatar.serving.errors import (
    BadRequest,
    InvalidInput,
    ModelError,
    NotConfigured,
    NotReady,
    PayloadTooLarge,
    ServiceError,
    UndecodableInput,
    UnsupportedMediaType,
)
from signavatar.serving.json_offload import JsonOffload
from signavatar.serving.schemas import (
    MAX_SENTENCE_GLOSSES,
    ErrorResponse,
    GenerateOptions,
    GenerateRequest,
    GenerateResponse,
    GlossesResponse,
    HealthResponse,
    ReadyResponse,
    ReconstructOptions,
    ReconstructResponse,
    SentenceGlossOptions,
)
from signavatar.serving.video import load_video_estimator
from signavatar.serving.viewer import add_docs_route, add_viewer_routes

log = logging.getLogger("ray.serve")  # Serve's logger: lines carry the replica and request id

READY_TIMEOUT_S = 5.0
MODEL_DEPLOYMENT = "SignAvatarModel"
INGRESS_DEPLOYMENT = "SignAvatarIngress"
ESTIMATOR_DEPLOYMENT = "VideoEstimator"


class _WorkerThread:
    """One thread for model work: calls run one at a time, off the replica's event loop (which
    keeps accepting requests, so the next batch fills while this one computes)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signavatar-model")

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


class _InReplica:
    """An object in this replica called like a ``DeploymentHandle``: ``obj.method.remote(*args)``
    is an awaitable of the method's result (``model_in_ingress``)."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> SimpleNamespace:
        method = getattr(self._target, name)

        async def call(*args: Any) -> Any:
            result = method(*args)
            return await result if inspect.isawaitable(result) else result

        return SimpleNamespace(remote=call)


@serve.deployment(name=MODEL_DEPLOYMENT, max_ongoing_requests=64, ray_actor_options={"num_cpus": 1})
class SignAvatarModel:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = ServeConfig.model_validate(config)
        self.avatar = load_avatar(self.config)
        self.worker = _WorkerThread()
        self.batcher = Batcher(partial(self.worker.run, generate_jobs, self.avatar), self.config.max_batch_size,
                               self.config.batch_wait_timeout_s)
        self.counters: Counter[str] = Counter()

    def info(self) -> dict[str, Any]:
        return {
            "glosses": list(self.avatar.glosses),
            "embedding_dim": int(self.avatar.gloss_embeddings.shape[1]),
            "num_frames": self.avatar.config.model.num_frames,
            "fps": self.avatar.fps,
            "device": str(self.avatar.device),
            "clip_trained": self.avatar.text_encoder_trained,
        }

    def stats(self) -> dict[str, int]:
        """``generate_batches`` (model calls) vs ``generate_requests``; ``max_batch`` seen."""
        batches = {f"generate_{k}" if k != "max_batch" else k: v for k, v in self.batcher.stats.items()}
        return {**self.counters, **batches}

    async def generate(self, job: GenerationJob) -> tuple[list[MotionClip], Timing]:
        """The job's clips, from a model call shared with whatever else was queued meanwhile
        (``batching.Batcher``), and where its time went."""
        return await self.batcher.submit(job)

    async def generate_sentence(self, job: SentenceJob) -> list[MotionClip] | PayloadTooLarge:
        """Not batched with other requests: a sentence is one decoder pass for all its glosses. One
        longer than ``max_frames`` is the 413 to answer, returned (see ``VideoEstimator.extract``)."""
        self.counters["sentence_requests"] += 1
        try:
            return await self.worker.run(generate_sentence, self.avatar, job)
        except SentenceTooLongError as exc:
            return PayloadTooLarge(f"{exc} (max_num_frames)")

    async def reconstruct(self, clip: MotionClip, gloss: str, seed: int) -> MotionClip:
        self.counters["reconstruct_requests"] += 1
        return await self.worker.run(self.avatar.reconstruct, clip, gloss, seed)


@serve.deployment(name=ESTIMATOR_DEPLOYMENT, max_ongoing_requests=8, ray_actor_options={"num_cpus": 1})
class VideoEstimator:
    def __init__(self, config: dict[str, Any]) -> None:
        self.estimate = load_video_estimator(ServeConfig.model_validate(config))
        self.worker = _WorkerThread()

    async def extract(self, video: bytes, filename: str) -> MotionClip | InvalidInput:
        """The clip, or (the estimator's ValueError: an unusable video) the 422 to answer, returned
        rather than raised: Serve logs a raised error as the replica's failure, with a traceback."""
        try:
            return await self.worker.run(self.estimate, video, filename)
        except ValueError as exc:
            return InvalidInput(f"video estimator: {exc}")


api = FastAPI(
    title="SignAvatar",
    description="Generate 3D sign-language motion (SMPL-X) from a word, text or image, and reconstruct it from "
                "a motion clip or a video. Clips are axis-angle in SMPL-X joint order; errors are JSON "
                "`{error, message, request_id}`.",
    version="1",
    docs_url=None,  # add_docs_route: Swagger UI from the bundle, not a CDN
    redoc_url=None,
)
add_viewer_routes(api)
add_docs_route(api)


def request_id(request: Request) -> str:
    """Serve's proxy gives every request an ``x-request-id`` (echoed in the response headers)."""
    return request.headers.get("x-request-id") or uuid.uuid4().hex


def error_response(request: Request, status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """The one error shape, as ASCII JSON (any user text echoed in ``message`` is escaped, so
    encoding the answer cannot fail)."""
    body = ErrorResponse(error=code, message=message, request_id=request_id(request))
    return Response(json.dumps(body.model_dump()), status_code=status, media_type="application/json",
                    headers=headers)


@api.exception_handler(ServiceError)
async def _service_error(request: Request, exc: ServiceError) -> Response:
    if exc.status < 500:
        log.info("request %s rejected (%d %s): %s", request_id(request), exc.status, exc.code, exc.message)
    return error_response(request, exc.status, exc.code, exc.message, exc.headers)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


@api.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own 4xx (unknown path, wrong method) in the same shape."""
    return error_response(request, exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"),
                          f"{request.method} {request.url.path}: {exc.detail}", dict(exc.headers or {}))


@api.exception_handler(Exception)
async def _internal_error(request: Request, exc: Exception) -> Response:
    rid = request_id(request)
    log.error("request %s failed: %s: %s", rid, type(exc).__name__, exc, exc_info=exc)
    return error_response(request, 500, "internal_error", f"the server failed on this request ({type(exc).__name__}); "
                          f"the server log has the details under request id {rid}")


_ERRORS = {status: {"model": ErrorResponse} for status in (400, 408, 413, 415, 422, 500, 503)}


def _inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written where they are used: a body schema given
    in ``openapi_extra`` is not registered in the document's components, so a ``$ref`` would dangle."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict) and "$ref" in node:
            return inline(defs[node["$ref"].rsplit("/", 1)[1]])
        if isinstance(node, dict):
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    return inline(schema)


_OPTION_FIELDS = GenerateOptions.model_json_schema()["properties"]
_GENERATE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _inlined_schema(GenerateRequest)},
    "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "format": "binary", "description": "png or jpeg"}, **_OPTION_FIELDS}}},
}}}
_RECONSTRUCT_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file", "gloss"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "motion clip (.npz AMASS-style or .json) or video (mp4/webm/mov)"},
        **ReconstructOptions.model_json_schema()["properties"]}}},
}}}


def _form_fields(form: Any, names: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in form.multi_items() if k in names and not isinstance(v, UploadFile)}


async def _nothing(_: Any) -> None:
    return None


def _unexpected(form: Any, expected: set[str]) -> None:
    extra = sorted(set(form.keys()) - expected)
    if extra:
        raise InvalidInput(f"unexpected form field(s) {extra}; expected {sorted(expected)}")


@serve.deployment(name=INGRESS_DEPLOYMENT, max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
@serve.ingress(api)
class SignAvatarIngress:
    """Every request passes, in order: its media type (415); admission before its body is read
    (declared size against the route's limit, 413; the route's cap and the replica's bytes budget,
    503); its body, received whole (408 for a slow or stalled client); then a route slot (503),
    validation (4xx), its cost (413 over ``max_request_cost``; 503 when the replica's queued model
    work is spent) and only then decoding and model work (``signavatar.serving.admission``)."""

    def __init__(self, model: DeploymentHandle | None, estimator: DeploymentHandle | None,
                 config: dict[str, Any]) -> None:
        self.model = model or _InReplica(SignAvatarModel.func_or_class(config))  # None: model_in_ingress
        self.estimator = estimator
        self.config = ServeConfig.model_validate(config)
        self._info: dict[str, Any] | None = None
        self.gates = admission.RouteGates(self.config.route_concurrency)
        self.inflight = admission.Budget(self.config.max_inflight_bytes, "max_inflight_bytes", "bytes of request body")
        self.model_work = admission.Budget(self.config.max_queued_cost, "max_queued_cost", "frame-samples of model work")
        self._decodes = asyncio.Semaphore(self.config.max_concurrent_decodes)
        self._json = JsonOffload()

    def __del__(self) -> None:
        self._json.close()

    @contextlib.asynccontextmanager
    async def _body(self, request: Request, route: str, mtype: str) -> AsyncIterator[Any]:
        """The request's body (bytes, or a ``FormData`` whose files are spooled to disk and deleted
        after the block), admitted before its first byte is read and received whole."""
        limit, setting = bodies.body_limit(mtype, self.config)
        with bodies.unread_body():
            declared = bodies.declared_length(request, limit, setting)
            reserved = limit if declared is None else declared
            self.gates.check(route)  # a full route refuses now, not after the upload
            self.inflight.check(reserved, "this request's body")
        with self.inflight.hold(reserved, "this request's body"):  # no await since the check: it fits
            if mtype != "multipart/form-data":
                with timing.phase("receive"):
                    body = await bodies.receive_bytes(request, limit, setting, self.config)
                yield body
                return
            with timing.phase("receive"):
                form = await bodies.receive_form(request, limit, setting, self.config)
            try:
                yield form
            finally:
                await form.close()

    async def _decoded(self, decode: Callable[[], Awaitable[Any]], use: Callable[[Any], Awaitable[Any]]) -> Any:
        """``use(await decode())``, holding one of ``max_concurrent_decodes`` slots until ``use``
        is done with it, so the replica holds that many decoded uploads at most, not one per request."""
        async with self._decodes:
            return await use(await decode())

    async def _call(self, request: Request, response: Awaitable[Any], what: str) -> Any:
        """Await a deployment call; a ``ServiceError`` it returns (a refusal of the input, returned
        so that Serve does not log it as a failure) is raised, and its failure is logged with the
        request id and answered 5xx."""
        try:
            result = await response
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc  # RayTaskError carries the replica's exception
            rid = request_id(request)
            log.exception("request %s: %s failed", rid, what)
            raise ModelError(f"the {what} failed on this request ({type(cause).__name__}); "
                             f"the server log has the details under request id {rid}") from None
        if isinstance(result, ServiceError):
            raise result
        return result

    async def _model_info(self, request: Request) -> dict[str, Any]:
        if self._info is None:
            self._info = await self._call(request, self.model.info.remote(), "model")
        return self._info

    async def model_stats(self) -> dict[str, int]:
        """``SignAvatarModel.stats`` wherever the model runs (handle call, not a route)."""
        return await self.model.stats.remote()

    @api.api_route("/healthz", methods=["GET", "HEAD"], response_model=HealthResponse,
                   summary="liveness of the HTTP front")
    async def healthz(self) -> HealthResponse:
        return HealthResponse()

    @api.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ErrorResponse}},
             summary="the model is loaded and answering")
    async def readyz(self, request: Request) -> ReadyResponse:
        try:  # asks the model every time: a replica that stopped answering makes this fail
            info = await asyncio.wait_for(self._call(request, self.model.info.remote(), "model"), READY_TIMEOUT_S)
        except (TimeoutError, ServiceError) as exc:
            raise NotReady(f"model deployment not ready: {str(exc) or 'no answer in time'}") from None
        return ReadyResponse(ready=True, device=info["device"], glosses=len(info["glosses"]),
                             video_estimator=self.config.video_estimator)

    @api.get("/glosses", response_model=GlossesResponse, summary="vocabulary with cached embeddings")
    async def glosses(self, request: Request) -> GlossesResponse:
        info = await self._model_info(request)
        return GlossesResponse(glosses=info["glosses"], embedding_dim=info["embedding_dim"],
                               num_frames=info["num_frames"], fps=info["fps"])

    @api.post("/generate", openapi_extra=_GENERATE_BODY, response_model=GenerateResponse, responses=_ERRORS,
              summary="motion clips for a text or a sentence of glosses (JSON body) or an image (multipart 'image')")
    async def generate(self, request: Request) -> Response:
        mtype = bodies.media_type(request.headers.get("content-type"))
        if mtype not in ("application/json", "multipart/form-data"):
            with bodies.unread_body():
                raise UnsupportedMediaType(f"content type {mtype or 'unknown'!r}: send application/json with "
                                           "'text' or multipart/form-data with an 'image' file")
        with timing.request() as spent:
            async with self._body(request, "generate", mtype) as body:
                with self.gates.enter("generate"):
                    if mtype == "application/json":
                        with timing.phase("validate"):
                            data = limits.parse_model(GenerateRequest, limits.parse_json(body, "request body"),
                                                      strict=True)
                            limits.check_generate_options(data, self.config)
                        options: GenerateOptions = data
                        clips = await (self._sentence(request, data) if data.is_sentence
                                       else self._text(request, data))
                    else:
                        options, clips = await self._image(request, body)
            with timing.phase("encode"):
                response = await self._clips_response(clips, options.format, options.gender, single=False)
            response.headers["server-timing"] = spent.header()
            return response

    async def _text(self, request: Request, data: GenerateRequest) -> list[MotionClip]:
        """Clips for ``data.text``: a known gloss (case-folded: "COFFEE" is coffee) from the cache;
        other text through CLIP, unless the CLIP is untrained (random weights, whose embedding of a
        new word means nothing): then a 422 naming the nearest glosses, unless ``allow_unknown``."""
        info = await self._model_info(request)
        text = limits.check_text(data.text, self.config)
        gloss = resolve_gloss(text, info["glosses"])
        if gloss is None and not info["clip_trained"] and not data.allow_unknown:
            raise InvalidInput(f"{unknown_words_message([text], info['glosses'])}; this model's CLIP is untrained "
                               "(clip.pretrained: random), so it would sign noise for them (\"allow_unknown\": true "
                               "asks for that anyway)")
        return await self._generate(request, data, {"text": gloss or text}, info)

    async def _image(self, request: Request, form: Any) -> tuple[GenerateOptions, list[MotionClip]]:
        _unexpected(form, {"image", *GenerateOptions.model_fields})
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise BadRequest("multipart field 'image' (a png or jpeg file) is required; send text as JSON")
        limits.upload_kind(image.content_type, image.filename, ("image",))
        options = limits.parse_model(GenerateOptions, _form_fields(form, list(GenerateOptions.model_fields)))
        limits.check_generate_options(options, self.config)
        info = await self._model_info(request)
        if not info["clip_trained"] and not options.allow_unknown:
            raise InvalidInput("images are encoded by CLIP, and this model's CLIP is untrained (clip.pretrained: "
                               "random): it would sign noise for any image (form field allow_unknown=true asks for "
                               "that anyway)")
        name = image.filename or "image"
        decode = partial(asyncio.to_thread, limits.decode_image, image.file, name, self.config.max_image_pixels)
        return options, await self._generate(request, options, {"image": decode}, info)

    async def _sentence(self, request: Request, data: GenerateRequest) -> list[MotionClip]:
        """``data.glosses`` (or the words of ``data.text``) signed as one clip per sample; glosses
        outside the vocabulary (after case-folding) are refused here, before the model, unless
        ``allow_unknown``."""
        if data.fingerspell is not None:
            try:
                letters = fingerspelled(limits.check_text(data.fingerspell, self.config, field="fingerspell"))
            except ValueError as exc:
                raise InvalidInput(f"field 'fingerspell': {exc}") from None
            between = data.transition_frames  # the request's, else the short transition between letters
            specs = [SentenceGlossOptions(gloss=g.gloss, transition_frames=g.transition_frames if between is None
                                          else between) for g in letters]
        else:
            specs = data.glosses if data.glosses is not None else limits.check_text(data.text, self.config).split()
        if len(specs) > MAX_SENTENCE_GLOSSES:
            raise InvalidInput(f"field 'text': {len(specs)} glosses; a sentence has at most {MAX_SENTENCE_GLOSSES}")
        info = await self._model_info(request)
        glosses = tuple(self._sentence_gloss(spec, data, i, info["glosses"]) for i, spec in enumerate(specs))
        unknown = list(dict.fromkeys(g.gloss for g in glosses if g.gloss not in info["glosses"]))
        if unknown and not data.allow_unknown:
            raise InvalidInput(f"{UnknownGlossError(unknown, info['glosses'])} (\"allow_unknown\": true)")
        cost = admission.check_cost(admission.generation_cost(
            data.num_samples, data.num_frames or info["num_frames"], len({g.gloss for g in glosses})), self.config)
        job = SentenceJob(glosses=glosses, num_samples=data.num_samples, seed=data.seed,
                          max_frames=self.config.max_num_frames, num_frames=data.num_frames,
                          allow_unknown=data.allow_unknown, temperature=data.temperature)
        with self.model_work.hold(cost, "this request"):
            return await self._call(request, self.model.generate_sentence.remote(job), "model")

    def _sentence_gloss(self, spec: str | SentenceGlossOptions, data: GenerateRequest, i: int,
                        known: Sequence[str]) -> SentenceGloss:
        """Gloss ``i`` of a sentence (the known gloss it names, case-folded); its own options
        override the request's."""
        spec = spec if isinstance(spec, SentenceGlossOptions) else SentenceGlossOptions(gloss=spec)
        field = f"glosses[{i}]" if data.glosses is not None else "fingerspell" if data.fingerspell else "text"
        gloss = limits.check_text(spec.gloss, self.config, field=field)
        speed = data.speed if spec.speed is None else spec.speed
        return SentenceGloss(gloss=resolve_gloss(gloss, known) or gloss,
                             speed=1.0 if speed is None else speed,
                             hold_frames=data.hold_frames if spec.hold_frames is None else spec.hold_frames,
                             transition_frames=(data.transition_frames if spec.transition_frames is None
                                                else spec.transition_frames))

    async def _generate(self, request: Request, options: GenerateOptions, job_input: dict[str, Any],
                        info: dict[str, Any]) -> list[MotionClip]:
        """One generation job, admitted by its cost before anything is decoded or queued; an
        ``image`` input is an awaitable decoding it (holding a decode slot until the model answers)."""
        cost = admission.check_cost(admission.generation_cost(
            options.num_samples, options.num_frames or info["num_frames"]), self.config)

        async def run(value: Any) -> list[MotionClip]:
            job = GenerationJob(num_samples=options.num_samples, seed=options.seed, num_frames=options.num_frames,
                                temperature=options.temperature, **{**job_input, **value})
            start = time.perf_counter()
            clips, spent = await self._call(request, self.model.generate.remote(job), "model")
            timing.add("queue", time.perf_counter() - start - spent.model)  # the handle hop and the batch wait
            timing.add("model", spent.model)
            timing.add("batch", spent.batch)
            return clips

        with self.model_work.hold(cost, "this request"):
            if "image" in job_input:
                return await self._decoded(job_input["image"], lambda pixels: run({"image": pixels}))
            return await run({})

    @api.post("/reconstruct", openapi_extra=_RECONSTRUCT_BODY, response_model=ReconstructResponse,
              responses={**_ERRORS, 501: {"model": ErrorResponse}},
              summary="reconstruct an uploaded motion clip or video of a gloss through the CVAE")
    async def reconstruct(self, request: Request) -> Response:
        mtype = bodies.media_type(request.headers.get("content-type"))
        if mtype != "multipart/form-data":
            with bodies.unread_body():
                raise UnsupportedMediaType(f"content type {mtype or 'unknown'!r}: send multipart/form-data with "
                                           "a 'file' (motion clip or video) and a 'gloss'")
        async with self._body(request, "reconstruct", mtype) as form:
            with self.gates.enter("reconstruct"):
                _unexpected(form, {"file", *ReconstructOptions.model_fields})
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise BadRequest("multipart field 'file' (a motion clip .npz/.json or a video) is required")
                options = limits.parse_model(ReconstructOptions,
                                             _form_fields(form, list(ReconstructOptions.model_fields)))
                info = await self._model_info(request)
                gloss = limits.check_text(options.gloss, self.config, field="gloss")
                gloss = resolve_gloss(gloss, info["glosses"]) or gloss
                name = upload.filename or "upload"
                kind = limits.upload_kind(upload.content_type, name, ("video", "npz", "json"))
                cost = admission.check_cost(admission.generation_cost(1, info["num_frames"]), self.config)
                with self.model_work.hold(cost, "this request"):
                    if kind == "video":
                        clip = await self._video_clip(request, upload.file, name)
                        result = await self._reconstruct(request, clip, gloss, options.seed)
                    else:
                        result = await self._decoded(partial(self._upload_clip, upload.file, kind, name),
                                                     lambda clip: self._reconstruct(request, clip, gloss, options.seed))
        return await self._clips_response([result], options.format, options.gender, single=True)

    async def _upload_clip(self, file: BinaryIO, kind: str, name: str) -> MotionClip:
        """A motion clip upload decoded: an npz on a thread (its decoding releases the GIL), JSON in
        the replica's parser process (``json_offload``: parsing holds the GIL)."""
        if kind == "npz":
            return await asyncio.to_thread(limits.parse_npz_clip, file, name, self.config)
        data = await asyncio.to_thread(limits.read_json_upload, file, name, self.config)
        try:
            fields, arrays = await self._json.parse_clip(data)
        except ValueError as exc:
            raise UndecodableInput(f"motion clip {name!r} {exc}") from None
        del data
        return limits.json_clip(fields, arrays, name, self.config)

    async def _video_clip(self, request: Request, file: BinaryIO, name: str) -> MotionClip:
        """The motion in a video upload, by the video estimator; checked against the limits from its
        container first. The estimator gets the video's bytes (read once) and a safe name."""
        await self._decoded(partial(asyncio.to_thread, limits.probe_video, file, name, self.config), _nothing)
        if self.estimator is None:
            raise NotConfigured(
                "video input needs a pose estimator and none is configured on this deployment: set the serve "
                "arg 'video_estimator' (e.g. 'signavatar.serving.video:extraction_estimator' with "
                "'extraction_config'; see signavatar.serving.video), or upload a motion clip (.npz / .json)")
        path = PurePosixPath(name)
        safe_name = safe_stem(path.stem, fallback="upload") + (path.suffix.lower() if
                                                               path.suffix.lower() in limits.EXTENSIONS else "")
        file.seek(0)
        data = await asyncio.to_thread(file.read)
        clip = await self._call(request, self.estimator.extract.remote(data, safe_name), "video estimator")
        return limits.check_clip(clip, self.config, name)

    async def _reconstruct(self, request: Request, clip: MotionClip, gloss: str, seed: int) -> MotionClip:
        return await self._call(request, self.model.reconstruct.remote(clip, gloss, seed), "model")

    @staticmethod
    async def _clips_response(clips: list[MotionClip], fmt: str, gender: str, single: bool) -> Response:
        if fmt in AVATAR_FORMATS:  # the avatar's formats; file names are the server's (avatar.export), never user text
            content, media_type, name = await asyncio.to_thread(export_payload, clips, fmt)
            return Response(content, media_type=media_type, headers={"content-disposition": f'attachment; filename="{name}"',
                                                                     "x-content-type-options": "nosniff"})
        if fmt == "npz":
            content, media_type, disposition = clips_to_npz_payload(clips, gender)
            return Response(content, media_type=media_type, headers={"content-disposition": disposition})
        return Response(clips_to_json_payload(clips, gender, single), media_type="application/json")


def build_app(args: dict[str, Any]) -> serve.Application:
    """Serve app builder (the ``import_path`` of serve configs): ``args`` are ``ServeConfig``
    fields; unknown keys are errors naming the key. Nothing is loaded here, replicas load."""
    config = ServeConfig.model_validate(args or {})
    if config.video_estimator:
        split_factory_spec(config.video_estimator, "video_estimator")
    payload = config.model_dump(mode="json")
    model = None if config.model_in_ingress else SignAvatarModel.bind(payload)
    estimator = VideoEstimator.bind(payload) if config.video_estimator else None
    return SignAvatarIngress.bind(model, estimator, payload)

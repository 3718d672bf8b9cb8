"""The HTTP API and UI of `recsys serve` (FastAPI; OpenAPI at /docs and /openapi.json).

Every client error is a 4xx with a JSON body {"error": "..."}: unknown ids and models 404,
bad parameters 422, bodies over the limit 413; a model that cannot answer is 503.
"""

from __future__ import annotations

import importlib.resources
import os
from typing import Annotated

from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from contract import keys
from recsys.serving import backends, catalogue
from recsys.serving import explain as explain_module
from recsys.serving.backends import BackendError
from recsys.serving.catalogue import Catalogue
from recsys.serving.middleware import Metrics, ServingMiddleware
from recsys.serving.registry import (
    STABLE,
    ModelRegistry,
    SetupError,
    label_for,
    labelled_versions,
    version_labels,
)
from recsys.serving.service import (
    ANY_MODEL,
    HISTORY_MODELS,
    MAX_K,
    BadRequest,
    NotFound,
    Recommender,
)

MAX_BODY_BYTES = 64 * 1024  # a history of 200 ids is ~2 KB
MAX_HISTORY = 200
K = Annotated[int, Query(ge=1, le=MAX_K, description=f"how many movies, 1..{MAX_K}")]
ModelName = Annotated[str | None, Query(description="model to use (default: best loaded)")]
STATIC = importlib.resources.files("recsys.serving") / "static"


def build_app(models_dir: str, data_dir: str, tf_serving: str | None = None,
              poll_seconds: float = 5.0, start_polling: bool = True,
              tf_serving_config: str | None = None, label: str = STABLE) -> FastAPI:
    """The app with the catalogue loaded and every model's latest version in memory (or, with
    `tf_serving`, behind TF Serving's REST API at that URL). With TF Serving's models.config
    (`tf_serving_config`), a model that has version labels is asked for `label` (else
    `stable`): with a canary loaded, TF Serving's unlabelled default would be the canary."""
    if not os.path.isdir(models_dir):
        raise SetupError(f"--models-dir {models_dir}: no such directory")
    data = catalogue.load(data_dir)  # before the models: loading them freezes the heap
    labels = version_labels(tf_serving_config) if tf_serving_config else {}
    if tf_serving:
        def loader(name, _version, path):
            return backends.RestBackend(tf_serving, name, backends.saved_signatures(path),
                                        label=label_for(labels.get(name, {}), label))
    else:
        def loader(_name, _version, path):
            return backends.InProcessBackend(path)
    models = ModelRegistry(models_dir, loader, poll_seconds,
                           versions=labelled_versions(labels, label) if labels else None)
    if not models.refresh(wait_for_settle=False):
        raise SetupError(f"--models-dir {models_dir}: no model versions "
                         "(expected <model>/<version>/saved_model.pb)")
    service = create_app(models, data)
    if start_polling:
        models.start()
    return service


def create_app(registry: ModelRegistry, catalogue: Catalogue,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(title="recsys", version="1.0",
                  description="MovieLens recommendations from the pushed TFX models.")
    service = Recommender(registry, catalogue)
    metrics = Metrics()
    app.state.registry, app.state.service, app.state.metrics = registry, service, metrics
    _error_handlers(app)
    _model_routes(app, service)
    _catalogue_routes(app, service)
    _ops_routes(app, registry, metrics)
    app.add_middleware(ServingMiddleware, metrics=metrics, max_body_bytes=max_body_bytes)
    return app


def _error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, **extra) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(BackendError)
    async def backend(_: Request, exc: BackendError) -> JSONResponse:
        return error(503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return error(422, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))


def _model_routes(app: FastAPI, service: Recommender) -> None:
    # The hot endpoints are coroutines: their own work is microseconds of look-ups (model calls
    # are awaited on the model's batcher), so they skip the thread-pool hops a plain `def`
    # costs (two per request: the endpoint and its response serialization).
    @app.get("/recommend", tags=["recommendations"])
    async def recommend(user_id: Annotated[str, Query(min_length=1, max_length=64)],
                        k: K = 10, model: ModelName = None, exclude_seen: bool = False) -> dict:
        """Top-k movies for a known user (`recommend` signature). With exclude_seen the
        movies the user rated in the raw data are passed as exclude_movie_ids."""
        exclude = service.user_query(user_id, exclude_seen)
        loaded = service.model(model, keys.RECOMMEND, ANY_MODEL)
        items = await service.recommend(loaded, user_id, k, [], exclude)
        return {"model": loaded.name, "version": loaded.version, "user_id": user_id,
                "excluded": len(exclude), "items": service.describe(items)}

    @app.post("/recommend/history", tags=["recommendations"])
    async def recommend_history(
        history: Annotated[list[str | int], Body(
            min_length=1, max_length=MAX_HISTORY,
            description="movie ids the user watched, oldest first",
            examples=[["50", "181", "172"]])],
        k: K = 10, model: ModelName = None,
    ) -> dict:
        """Next movies for an anonymous user from a watch history (sequential model by
        default); the history's movies are excluded from the answer."""
        ids = [str(i) for i in history]
        unknown = [i for i in ids if i not in service.catalogue.movies]
        if unknown:
            raise NotFound(f"unknown movie ids {unknown[:10]}")
        loaded = service.model(model, keys.RECOMMEND, HISTORY_MODELS)
        items = await service.recommend(loaded, "", k, ids, ids)
        return {"model": loaded.name, "version": loaded.version, "history": ids,
                "items": service.describe(items)}

    @app.get("/similar", tags=["recommendations"])
    async def similar(movie_id: Annotated[str | None, Query(max_length=32)] = None,
                      title: Annotated[str | None, Query(max_length=200)] = None,
                      k: K = 10, model: ModelName = None) -> dict:
        """Movies nearest by cosine of the model's item embeddings (read once per model
        version through `item_embeddings`). `title` matching ignores case, accents, a year
        suffix and leading or trailing articles ("Usual Suspects, The")."""
        movie = _movie(service, movie_id, title)
        loaded = service.model(model, keys.ITEM_EMBEDDINGS, ANY_MODEL)
        items = service.similar(loaded, movie.movie_id, k)
        return {"model": loaded.name, "version": loaded.version, "movie": movie.to_json(),
                "items": service.describe(items)}

    @app.get("/explain", tags=["recommendations"])
    def explain(user_id: Annotated[str, Query(min_length=1, max_length=64)],
                movie_id: Annotated[str, Query(min_length=1, max_length=32)],
                model: ModelName = None) -> dict:
        """Why `model` scores this movie for this user: exact Shapley values of each input
        feature (user id, gender, age, occupation, history movies, movie id, genres, year),
        summing to score - baseline_score (see recsys.serving.explain)."""
        service.user_query(user_id, False)
        if movie_id not in service.catalogue.movies:
            raise NotFound(f"unknown movie_id {movie_id!r}")
        loaded = service.model(model, keys.RECOMMEND, explain_module.MODELS)
        result = explain_module.explain(loaded, service.catalogue, user_id, movie_id)
        return {"model": loaded.name, "version": loaded.version, "user_id": user_id,
                "movie": service.catalogue.movies[movie_id].to_json(), **result}


def _movie(service: Recommender, movie_id: str | None, title: str | None):
    if (movie_id is None) == (title is None):
        raise BadRequest("give exactly one of movie_id and title")
    if movie_id is not None:
        movie = service.catalogue.movies.get(movie_id)
        if movie is None:
            raise NotFound(f"unknown movie_id {movie_id!r}")
        return movie
    movie = service.catalogue.find_title(title)
    if movie is None:
        raise NotFound(f"no movie titled {title!r}")
    return movie


def _catalogue_routes(app: FastAPI, service: Recommender) -> None:
    catalogue = service.catalogue

    @app.get("/movies", tags=["catalogue"])
    def movies(prefix: Annotated[str, Query(min_length=1, max_length=200)],
               limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict:
        """Title autocomplete (same forgiving matching as /similar?title=)."""
        return {"movies": [m.to_json() for m in catalogue.search(prefix, limit)]}

    @app.get("/users/{user_id}", tags=["catalogue"])
    def user(user_id: Annotated[str, Path(max_length=64)],
             history: Annotated[int, Query(ge=0, le=500)] = 20) -> dict:
        """Demographics and the latest `history` ratings of a user (newest last)."""
        if user_id not in catalogue.users:
            raise NotFound(f"unknown user_id {user_id!r}")
        rated = catalogue.ratings.get(user_id, [])
        recent = rated[-history:] if history else []
        return {"user_id": user_id, **catalogue.users[user_id], "ratings": len(rated),
                "history": [{**catalogue.movies[r.movie_id].to_json(), "rating": r.rating}
                            for r in recent if r.movie_id in catalogue.movies]}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: Annotated[str, Path(pattern=r"^[\w-]+\.(js|css)$")]) -> FileResponse:
        path = STATIC / name
        if not path.is_file():
            raise NotFound(f"no static file {name!r}")
        return FileResponse(str(path))


def _ops_routes(app: FastAPI, registry: ModelRegistry, metrics: Metrics) -> None:
    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        """Ready once at least one model is loaded."""
        models = {n: m.version for n, m in registry.models().items()}
        status = 200 if models else 503
        return JSONResponse({"ready": bool(models), "models": models}, status_code=status)

    @app.get("/models", tags=["operations"])
    def models() -> dict:
        return {"models": [{"name": m.name, "version": m.version, "path": m.path,
                            "signatures": sorted(m.backend.signatures)}
                           for m in registry.models().values()]}

    @app.get("/metrics", tags=["operations"])
    def prometheus() -> Response:
        for name, loaded in registry.models().items():
            metrics.model_version.labels(name).set(loaded.version)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


"""The CLI's entry point: read prompt files, choose the prompts, and set up a `LabelJob` with
every model at one endpoint (`plan_labelling`; nothing is called)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..calls import Endpoints
from ..client import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, Endpoint
from ..errors import InvalidRequestError
from ..router import Router
from .job import LabelJob
from .prompts import read_prompts
from .selection import select_prompts
from .settings import DEFAULT_CALL_TIMEOUT_S, DEFAULT_CONCURRENCY


def plan_labelling(
    prompts: str | Path | Sequence[str | Path],
    *,
    models: Sequence[str],
    judge: str,
    out: str | Path,
    reference: str | None = None,
    sample: int | None = None,
    active: str | Path | Router | None = None,
    seed: int = 0,
    base_url: str | None = None,
    api_key_env: str | None = DEFAULT_API_KEY_ENV,
    prices: str | Path | Mapping[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_tokens: int | None = None,
) -> LabelJob:
    """Read prompt files, choose the prompts, and set up a `LabelJob` (nothing is called).

    `models` entries may hold several names separated by commas. `active` is a trained router
    folder, "default" for the bundled router, or a `Router`: label the prompts it is least sure
    of (`sample` of them, or all least sure first). `base_url` / `api_key_env` say where every
    model is called (default OpenRouter; `api_key_env` "" or None sends no key). `prices` is a
    mapping or a JSON file `{model: [USD per 1M input tokens, per 1M output tokens]}`.
    `max_tokens` caps each candidate answer (and makes the estimate a bound).
    """
    names = [n.strip() for m in models for n in str(m).split(",") if n.strip()]
    items = read_prompts(prompts)
    router = _load_active(active)
    chosen = select_prompts(items, sample=sample, active=router, models=names, seed=seed)
    price_map: Mapping[str, Any] | None
    if isinstance(prices, (str, Path)):
        try:
            price_map = json.loads(Path(prices).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InvalidRequestError(f"cannot read prices from {prices}: {e}") from e
        if not isinstance(price_map, dict):
            raise InvalidRequestError(f"{prices}: prices are a JSON object {{model: [input, output]}}")
    else:
        price_map = prices
    endpoint = Endpoint(base_url=base_url or DEFAULT_BASE_URL, api_key_env=(api_key_env or "").strip() or None,
                        timeout=DEFAULT_CALL_TIMEOUT_S)
    params = {"max_tokens": max_tokens} if max_tokens else None
    return LabelJob(chosen, models=names, judge=judge, out=out, reference=reference,
                    endpoints=Endpoints(default=endpoint), prices=price_map, params=params,
                    concurrency=concurrency)


def _load_active(active: str | Path | Router | None) -> Router | None:
    if active is None:
        return None
    if isinstance(active, Router):
        return active
    if str(active).strip().lower() == "default":
        return Router.default()
    return Router.load(active)

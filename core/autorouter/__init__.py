"""autorouter: send each prompt to the model that gives the best answer for the money."""

__version__ = "0.1.0"

import logging as _logging

# A library logs to its loggers and lets the application decide where that goes: without
# this, Python's last-resort handler would print our warnings to stderr by itself.
_logging.getLogger("autorouter").addHandler(_logging.NullHandler())

from .calls import AsyncRoutedStream, Endpoints, RoutedCaller, RoutedCompletion, RoutedStream  # noqa: E402
from .catalog import Capabilities, Catalog, FactSource, ModelCard, ModelFacts  # noqa: E402
from .client import Endpoint  # noqa: E402
from .dataset import RoutingDataset, load_dataset  # noqa: E402
from .decision import RankedModel, RoutingDecision  # noqa: E402
from .embedders import CallableEmbedder, Embedder, OpenAIEmbedder, get_embedder  # noqa: E402
from .errors import (  # noqa: E402
    AttemptTimeoutError,
    AuthenticationError,
    AutorouterError,
    BadRequestError,
    CatalogError,
    DatasetError,
    EmbedderError,
    FallbackExhaustedError,
    InvalidRequestError,
    MissingAPIKeyError,
    NoCandidateError,
    NotFittedError,
    ProviderError,
    RateLimitError,
    RouterLoadError,
    StreamInterruptedError,
    UnknownModelError,
    UnknownResponseError,
)
from .feedback import AnswerLedger, Feedback, FeedbackLog, give_feedback  # noqa: E402
from .policy import DEFAULT_LATENCY_WEIGHT, DEFAULT_TRADEOFF  # noqa: E402
from .reliability import RetryPolicy  # noqa: E402
from .router import EmbeddedPrompts, Router  # noqa: E402
from .types import ModelLimits, ModelPrice, ModelSpeed  # noqa: E402

__all__ = [
    "__version__",
    "Router",
    "EmbeddedPrompts",
    "RoutedCaller",
    "RoutedCompletion",
    "RoutedStream",
    "AsyncRoutedStream",
    "Endpoint",
    "Endpoints",
    "RetryPolicy",
    "ProviderError",
    "RateLimitError",
    "AttemptTimeoutError",
    "BadRequestError",
    "AuthenticationError",
    "MissingAPIKeyError",
    "StreamInterruptedError",
    "FallbackExhaustedError",
    "Catalog",
    "ModelCard",
    "ModelFacts",
    "Capabilities",
    "FactSource",
    "CatalogError",
    "RoutingDecision",
    "RankedModel",
    "ModelLimits",
    "ModelSpeed",
    "AnswerLedger",
    "Feedback",
    "FeedbackLog",
    "give_feedback",
    "UnknownResponseError",
    "RoutingDataset",
    "ModelPrice",
    "load_dataset",
    "Embedder",
    "CallableEmbedder",
    "OpenAIEmbedder",
    "get_embedder",
    "DEFAULT_TRADEOFF",
    "DEFAULT_LATENCY_WEIGHT",
    "AutorouterError",
    "DatasetError",
    "EmbedderError",
    "InvalidRequestError",
    "NoCandidateError",
    "NotFittedError",
    "RouterLoadError",
    "UnknownModelError",
]

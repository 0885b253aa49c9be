"""The bundled transformer embedder: all-MiniLM-L6-v2 in int8 ONNX, run with onnxruntime, whole
or cut to its first 3 layers (the bundled default router's embedder; `Router.fit`'s default is
the static one).

The model file and its tokenizer ship in `embedders/data/` (built by
`scripts/build_embedders.py`), so nothing is downloaded at run time and neither torch nor
transformers is needed. The ONNX graph already does the mean pooling over the attention mask;
`Embedder.embed` L2-normalises the rows.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import EmbedderError
from .base import Embedder, normalize_rows
from .lexical import char_ngram_vectors

if TYPE_CHECKING:  # both are imported lazily, so that `import autorouter` stays light.
    import onnxruntime
    import tokenizers

__all__ = ["DATA_DIR", "MiniLMEmbedder", "check_texts", "clip_chars", "load_tokenizer"]

DATA_DIR = Path(__file__).resolve().parent / "data"
#: layers kept -> bundled ONNX file (see scripts/build_embedders.py).
MODEL_FILES = {6: "minilm-l6-v2-int8.onnx", 3: "minilm-l3-int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"

#: BERT's position table has 512 rows, counting [CLS] and [SEP].
MAX_POSITIONS = 512

#: Texts are cut to `max_tokens * CHARS_PER_TOKEN` characters before tokenising, so a megabyte
#: prompt costs no more than a long one. English runs ~4-5 characters per WordPiece token, so the
#: cut only changes the result for text that is mostly whitespace or very long "words".
CHARS_PER_TOKEN = 32

#: Padded tokens per onnxruntime call. Most of the model's time goes to element-wise work
#: (quantize, GELU, layer norm, softmax) whose activations must stay in cache: on 2 cores,
#: chunks of 128-512 tokens ran 1.7x faster than batches of 64 prompts, and 2,048 was slower.
TOKENS_PER_CALL = 256

Truncation = Literal["head", "tail"]


def check_texts(texts: list[str]) -> None:
    """Raise EmbedderError naming the first item that is not a string."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise EmbedderError(f"texts must be strings; item {i} is {type(t).__name__}")


def clip_chars(text: str, max_tokens: int, truncation: Truncation) -> str:
    """Keep the end ("tail") or the start ("head") of a text too long to matter in full."""
    limit = max_tokens * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    return text[-limit:] if truncation == "tail" else text[:limit]


def load_tokenizer(path: Path, max_tokens: int, truncation: Truncation) -> tokenizers.Tokenizer:
    """Load a `tokenizer.json`, truncating to `max_tokens` (special tokens included).

    "tail" truncates on the left, so the end of a long prompt (where the question usually is)
    is kept; the post-processor still adds [CLS] and [SEP] around what is left.
    """
    try:
        from tokenizers import Tokenizer
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise EmbedderError("the bundled embedders need `tokenizers`: pip install tokenizers") from e
    if not path.is_file():
        raise EmbedderError(
            f"bundled embedder file {path} is missing; reinstall autorouter "
            "(or, from a source checkout, run `python scripts/build_embedders.py`)"
        )
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens, direction="left" if truncation == "tail" else "right")
    return tok


def check_truncation_args(max_tokens: int, truncation: str, upper: int) -> None:
    """Raise EmbedderError unless `max_tokens` is in [3, upper] and `truncation` is head/tail."""
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 3 <= max_tokens <= upper:
        raise EmbedderError(f"max_tokens must be an integer between 3 and {upper}, got {max_tokens!r}")
    if truncation not in ("head", "tail"):
        raise EmbedderError(f'truncation must be "head" or "tail", got {truncation!r}')


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d), int8-quantized, on CPU with onnxruntime.

    Args:
        layers: 6, the whole model, or 3, its first 3 transformer layers with the same mean
            pooling: about half the time per prompt, for a router that must decide within a
            couple of milliseconds (the bundled default router). They also tell its prompt
            families apart better than all 6 (`benchmarks/family_cv.py`); all 6 are the
            upstream sentence-similarity model.
        max_tokens: longest input in tokens, [CLS] and [SEP] included (at most 512). Cost grows
            with it: routing prompts are often long, and the end usually says what is asked.
        truncation: "tail" keeps the end of a long prompt, "head" its start.
        threads: CPU threads for a batch (default: min(2, CPU count)). Each onnxruntime call
            runs on one thread (intra-op threads = 1) and a batch's chunks run in parallel on
            `threads` threads: on a small machine this scaled better than splitting each call,
            and it degrades gracefully when other processes compete for the cores.
        batch_size: most texts per onnxruntime call (calls also hold at most ~256 tokens).
        char_ngrams: when > 0, append that many buckets of hashed character 1-3-gram counts
            (`autorouter.embedders.lexical`), each part unit length, the whole scaled back to
            unit length: surface features that tell kinds of prompts apart in languages MiniLM
            knows little of. The bundled default router uses 2048.
        unit_parts: with `char_ngrams`, scale MiniLM's part to unit length before joining, so
            the two parts weigh the same. Routers saved before this option existed joined
            MiniLM's raw mean-pooled vector (length about 6), where the n-grams weighed about
            1/36 as much; their saved configs have no `unit_parts` and load with False.

    The onnxruntime session is created on first use (or by `warmup()`), so construction is fast.
    Activations are quantized per token, so a text's vector does not depend on the other texts
    in its batch.
    """

    kind = "minilm"

    def __init__(
        self,
        max_tokens: int = 256,
        truncation: Truncation = "tail",
        threads: int | None = None,
        batch_size: int = 64,
        char_ngrams: int = 0,
        layers: int = 6,
        unit_parts: bool = True,
    ) -> None:
        check_truncation_args(max_tokens, truncation, MAX_POSITIONS)
        if isinstance(layers, bool) or layers not in MODEL_FILES:
            raise EmbedderError(f"layers must be one of {sorted(MODEL_FILES)}, got {layers!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise EmbedderError(f"threads must be a positive integer or None, got {threads!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EmbedderError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.max_tokens = max_tokens
        self.truncation: Truncation = truncation
        self.threads = threads if threads is not None else min(2, os.cpu_count() or 1)
        if not isinstance(char_ngrams, int) or isinstance(char_ngrams, bool) or not 0 <= char_ngrams <= 1 << 16:
            raise EmbedderError(f"char_ngrams must be an integer in [0, 65536], got {char_ngrams!r}")
        self.batch_size = batch_size
        self.char_ngrams = char_ngrams
        self.layers = layers
        self.unit_parts = bool(unit_parts)
        self._model_path = DATA_DIR / MODEL_FILES[layers]
        if not self._model_path.is_file():
            raise EmbedderError(
                f"bundled model {self._model_path} is missing; reinstall autorouter "
                "(or, from a source checkout, run `python scripts/build_embedders.py`)"
            )
        self._tokenizer = load_tokenizer(DATA_DIR / TOKENIZER_FILE, max_tokens, truncation)
        self._session: onnxruntime.InferenceSession | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return 384 + self.char_ngrams

    def _get_session(self) -> onnxruntime.InferenceSession:
        if self._session is None:
            with self._lock:  # two threads embedding at once must not both build a session.
                if self._session is None:
                    self._session = self._new_session()
        return self._session

    def _new_session(self) -> onnxruntime.InferenceSession:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise EmbedderError(
                "MiniLMEmbedder needs onnxruntime: pip install onnxruntime "
                '(or use get_embedder("static"), which needs only numpy and tokenizers)'
            ) from e
        opts = ort.SessionOptions()
        # One thread per call; parallelism comes from running chunks side by side (see threads).
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # onnxruntime's warnings are about graph details, not the user.
        try:
            return ort.InferenceSession(str(self._model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise EmbedderError(f"onnxruntime could not load {self._model_path}: {e}") from e

    def warmup(self) -> None:
        """Create the onnxruntime session now rather than on the first `embed`."""
        self._get_session().run(None, _pad([[101, 102]], np.arange(1), 2))

    def _embed(self, texts: list[str]) -> np.ndarray:
        check_texts(texts)
        session = self._get_session()
        clipped = [clip_chars(t, self.max_tokens, self.truncation) for t in texts]
        ids = [enc.ids for enc in self._tokenizer.encode_batch(clipped)]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        # Batches of similar length waste little compute on padding: sort, run, restore order.
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), 384), dtype=np.float32)

        def run(rows: np.ndarray) -> None:
            width = int(lengths[rows[-1]])  # rows are sorted by length: the last is the longest
            out[rows] = session.run(None, _pad(ids, rows, width))[0]

        chunks = _chunks(lengths, order, self.batch_size, TOKENS_PER_CALL)
        if len(chunks) == 1 or self.threads == 1:
            for rows in chunks:
                run(rows)
        else:  # onnxruntime releases the GIL, so chunks really run in parallel.
            list(self._get_pool().map(run, chunks))
        if self.char_ngrams:
            grams = char_ngram_vectors(texts, self.char_ngrams)
            if self.unit_parts:
                out = normalize_rows(out)
            return (np.hstack([out, grams]) / np.float32(np.sqrt(2.0))).astype(np.float32)
        return out

    def _get_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="autorouter-minilm")
        return self._pool

    def config(self) -> dict[str, Any]:
        # threads and batch_size are tuning for one machine, not part of the vectors: not saved.
        cfg: dict[str, Any] = {"kind": self.kind, "max_tokens": self.max_tokens, "truncation": self.truncation}
        if self.char_ngrams:
            cfg["char_ngrams"] = self.char_ngrams
            cfg["unit_parts"] = self.unit_parts  # absent in configs saved before it existed: False
        if self.layers != 6:  # routers saved before `layers` existed used all 6
            cfg["layers"] = self.layers
        return cfg

    def __repr__(self) -> str:
        extra = f", char_ngrams={self.char_ngrams}" if self.char_ngrams else ""
        extra += ", unit_parts=False" if self.char_ngrams and not self.unit_parts else ""
        extra += f", layers={self.layers}" if self.layers != 6 else ""
        return f"MiniLMEmbedder(max_tokens={self.max_tokens}, truncation={self.truncation!r}{extra})"


def _chunks(lengths: np.ndarray, order: np.ndarray, max_rows: int, max_tokens: int) -> list[np.ndarray]:
    """Split `order` (indices sorted by length) into runs of at most `max_rows` texts whose
    padded size (rows x longest) stays within `max_tokens` (a longer single text goes alone)."""
    chunks, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or end - start >= max_rows or (end + 1 - start) * lengths[order[end]] > max_tokens:
            chunks.append(order[start:end])
            start = end
    return chunks


def _pad(ids: list[list[int]], rows: np.ndarray, width: int) -> dict[str, np.ndarray]:
    """The onnxruntime feed for `rows` of `ids`, right-padded with 0 to `width`."""
    input_ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, i in enumerate(rows):
        n = len(ids[i])
        input_ids[r, :n] = ids[i]
        mask[r, :n] = 1
    return {"input_ids": input_ids, "attention_mask": mask}

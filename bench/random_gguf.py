"""A GGUF of a Qwen2.5 shape with random weights and the real tokenizer.

Serving throughput depends on the model's shape, not on its weights' values,
so this measures an engine (llama-server on a GPU box, say) where the real
weights cannot travel. Its answers are noise: never serve it.

    python -m bench.random_gguf TOKENIZER.gguf OUT.gguf --size 1.5b

TOKENIZER.gguf: any Qwen2.5 GGUF (only its tokenizer.* keys are read).
Needs llama.cpp's gguf-py on PYTHONPATH (vendor/llama.cpp/gguf-py in the
llama-cpp-python sdist)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shape:
    layers: int
    width: int
    ffn: int
    heads: int
    kv_heads: int
    tied: bool


SHAPES = {  # Qwen2.5's published configs
    "0.5b": Shape(24, 896, 4864, 14, 2, tied=True),
    "1.5b": Shape(28, 1536, 8960, 12, 2, tied=True),
    "3b": Shape(36, 2048, 11008, 16, 2, tied=True),
    "7b": Shape(28, 3584, 18944, 28, 4, tied=False),
}
VOCAB = 151936


def write(tokenizer: str, out: str, shape: Shape) -> None:
    import gguf  # type: ignore[import-not-found]  # llama.cpp's gguf-py

    reader = gguf.GGUFReader(tokenizer)
    writer = gguf.GGUFWriter(out, "qwen2")
    writer.add_block_count(shape.layers)
    writer.add_context_length(32768)
    writer.add_embedding_length(shape.width)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for key, field in reader.fields.items():
        if key.startswith("tokenizer."):
            kind = field.types[0]
            sub = field.types[1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, field.contents(), kind, sub_type=sub)

    rng = np.random.default_rng(0)

    def weight(*dims: int) -> np.ndarray:
        return (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float16)

    kv = shape.width // shape.heads * shape.kv_heads
    writer.add_tensor("token_embd.weight", weight(VOCAB, shape.width))
    if not shape.tied:
        writer.add_tensor("output.weight", weight(VOCAB, shape.width))
    writer.add_tensor("output_norm.weight", np.ones(shape.width, np.float32))
    for i in range(shape.layers):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", np.ones(shape.width, np.float32))
        writer.add_tensor(b + "ffn_norm.weight", np.ones(shape.width, np.float32))
        writer.add_tensor(b + "attn_q.weight", weight(shape.width, shape.width))
        writer.add_tensor(b + "attn_q.bias", np.zeros(shape.width, np.float32))
        writer.add_tensor(b + "attn_k.weight", weight(kv, shape.width))
        writer.add_tensor(b + "attn_k.bias", np.zeros(kv, np.float32))
        writer.add_tensor(b + "attn_v.weight", weight(kv, shape.width))
        writer.add_tensor(b + "attn_v.bias", np.zeros(kv, np.float32))
        writer.add_tensor(b + "attn_output.weight", weight(shape.width, shape.width))
        writer.add_tensor(b + "ffn_gate.weight", weight(shape.ffn, shape.width))
        writer.add_tensor(b + "ffn_up.weight", weight(shape.ffn, shape.width))
        writer.add_tensor(b + "ffn_down.weight", weight(shape.width, shape.ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tokenizer")
    parser.add_argument("out")
    parser.add_argument("--size", choices=sorted(SHAPES), default="1.5b")
    args = parser.parse_args()
    write(args.tokenizer, args.out, SHAPES[args.size])


if __name__ == "__main__":
    main()

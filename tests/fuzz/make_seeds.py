"""Writes the fuzzers' seed corpora (tests/fuzz/corpus/<target>/): small valid files of
every format and a few near-misses, so the fuzzers start from inputs that reach deep.

    PYTHONPATH=build/python /usr/bin/python3 tests/fuzz/make_seeds.py tests/fuzz/corpus

Needs the anneal Python package (for checkpoints); the rest is written by hand here."""
import gzip
import json
import os
import struct
import sys
import tempfile

import anneal
import anneal.nn as nn

out = sys.argv[1]


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- IDX: each element type, 1 to 3 dims, raw and gzip ----
def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


put("idx", "u8_2x3", idx(0x08, [2, 3], bytes(range(6))))
put("idx", "u8_2x3.gz", gzip.compress(idx(0x08, [2, 3], bytes(range(6))), mtime=0))
put("idx", "i8_4", idx(0x09, [4], bytes([0, 127, 128, 255])))
put("idx", "i16_2", idx(0x0B, [2], struct.pack(">hh", -2, 300)))
put("idx", "i32_1x2x2", idx(0x0C, [1, 2, 2], struct.pack(">4i", 1, -1, 2, -2)))
put("idx", "f32_3", idx(0x0D, [3], struct.pack(">3f", 0.5, -1.0, 3.25)))
put("idx", "f64_2", idx(0x0E, [2], struct.pack(">2d", 1e300, -0.0)))
put("idx", "eight_dims", idx(0x08, [1] * 8, b"\x07"))
put("idx", "declares_more", idx(0x08, [1000, 1000], b"\x00" * 8))


# ---- safetensors ----
def safetensors(entries, metadata=None, pad=True):
    header, data, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in entries.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    while pad and len(h) % 8:
        h += b" "
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "two", safetensors({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                                       "b": ("I64", [2], struct.pack("<2q", 5, -6))}, {"format": "pt"}))
put("safetensors", "dtypes", safetensors({"h": ("F16", [1], b"\x00\x3c"), "bf": ("BF16", [1], b"\x80\x3f"),
                                          "d": ("F64", [], struct.pack("<d", 2.5)), "i": ("I32", [1], b"\x01\x00\x00\x00"),
                                          "u": ("U8", [3], b"\x01\x02\x03"), "m": ("BOOL", [2], b"\x00\x01")}))
put("safetensors", "empty_tensor", safetensors({"e": ("F32", [0, 3], b"")}))
put("safetensors", "unicode_name", safetensors({"caf\u00e9\\u00e9": ("U8", [1], b"\x00")}, {"k": "\u2603"}))
put("safetensors", "empty_header", safetensors({}))

# ---- checkpoints: written by anneal itself (file, and the payload behind the header) ----
with tempfile.TemporaryDirectory() as tmp:
    anneal.manual_seed(0)
    model = nn.Linear(3, 2)
    for name, opt in (("adam", anneal.optim.Adam(model.parameters(), lr=1e-3)),
                      ("sgd", anneal.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))):
        model(anneal.randn(4, 3)).sum().backward()
        opt.step()
        p = os.path.join(tmp, name + ".ckpt")
        anneal.train.save_checkpoint(p, model, opt, step=1, epoch=0, config="lr: 0.1")
        blob = open(p, "rb").read()
        put("checkpoint", name, blob)
        put("checkpoint_payload", name, blob[24:])
    p = os.path.join(tmp, "model.ckpt")
    anneal.train.save_checkpoint(p, model)
    put("checkpoint", "model_only", open(p, "rb").read())
    put("checkpoint_payload", "model_only", open(p, "rb").read()[24:])

# ---- token shards: llm.c header (uint16 and uint32) and raw ----
header = struct.pack("<256i", 20240520, 1, 4, *([0] * 253))
put("token_shard", "llmc_u16", header + struct.pack("<4H", 1, 2, 3, 65535))
header = struct.pack("<256i", 20240520, 2, 2, *([0] * 253))
put("token_shard", "llmc_u32", header + struct.pack("<2I", 7, 2 ** 32 - 1))
put("token_shard", "raw", struct.pack("<6H", 0, 1, 2, 3, 4, 5))

# ---- CIFAR: one record of each kind ----
put("cifar", "cifar10_one", bytes([3]) + bytes(i % 256 for i in range(3072)))
put("cifar", "cifar100_two", (bytes([1, 42]) + bytes(3072)) * 2)

# ---- text ----
put("text_vocab", "ascii", b"In the beginning God created the heaven and the earth.\n")
put("text_vocab", "utf8", "na\u00efve \u2603 \U0001F600 end".encode())
put("text_vocab", "overlong", b"ab\xc0\xafcd")
put("text_vocab", "surrogate", b"x\xed\xa0\x80y")

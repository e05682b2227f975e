#!/usr/bin/python3
"""An independent reader and writer of safetensors files, with NumPy and json only.
usage: safetensors_roundtrip.py IN OUT
Reads IN (written by anneal), writes OUT with every floating tensor doubled, every
integer tensor plus one, and the metadata echoed with a "seen_by": "numpy" entry."""
import json
import struct
import sys

import numpy as np

DT = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
      "U8": np.uint8, "BOOL": np.bool_}
NAME = {np.dtype(v): k for k, v in DT.items()}


def read(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        s, t = e["data_offsets"]
        out[name] = np.frombuffer(data[s:t], dtype=DT[e["dtype"]]).reshape(e["shape"])
    return out, meta


def write(path, tensors, meta):
    header, chunks, off = {"__metadata__": meta}, [], 0
    for name, a in tensors.items():
        a = np.array(a, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray would not)
        header[name] = {"dtype": NAME[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        chunks.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


if __name__ == "__main__":
    tensors, meta = read(sys.argv[1])
    changed = {}
    for k, a in tensors.items():
        if a.dtype == np.bool_:
            changed[k] = ~a
        elif np.issubdtype(a.dtype, np.floating):
            changed[k] = a * a.dtype.type(2)
        else:
            changed[k] = a + a.dtype.type(1)
    meta = dict(meta, seen_by="numpy")
    write(sys.argv[2], changed, meta)

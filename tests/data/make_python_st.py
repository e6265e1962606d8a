# make_python_st.py: writes python.safetensors, the fixture of tests/test_safetensors.c,
# with nothing but Python's struct and json (an independent writer of the format).
# Run: cd tests/data && /usr/bin/python3 make_python_st.py
# Data order in the file (idx, emb, long, big, scalar, empty) differs from the
# header's key order (sorted), json.dumps uses its default ", " / ": " separators and
# escapes non-ASCII (\u00e9), and the metadata comes last: all legal, all unlike ours.
import json
import struct

tensors = [  # name, dtype, shape, struct format, values
    ("idx", "I32", [2, 2], "<4i", [1, -2, 2147483647, -2147483648]),
    ("emb", "F32", [2, 3], "<6f", [0.5, -1.25, 3.0, 1e-3, -0.0, 65504.0]),
    ("long", "I64", [2], "<2q", [2**62 + 1, -(2**63)]),
    ("big", "F64", [3], "<3d", [1 / 3, -2.5e300, 5e-324]),
    ("scalar", "F32", [], "<f", [7.0]),
    ("empty", "F32", [0, 4], "<0f", []),
]
header, data = {}, b""
for name, dtype, shape, fmt, values in tensors:
    raw = struct.pack(fmt, *values)
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
header = dict(sorted(header.items()))
header["__metadata__"] = {"format": "pt", "note": "h\u00e9llo \"quoted\"\n"}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open("python.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)

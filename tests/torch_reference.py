#!/usr/bin/python3
"""PyTorch side of `makemore gradcheck`: the lecture's exercise-1 cell with autograd.

Run with Debian's python3 (python3-torch, torch 1.13), not a pyenv one:

  /usr/bin/python3 tests/torch_reference.py write OUT.safetensors [--batch 32] [--hidden 64]
        [--embd 10] [--block 3] [--vocab 27] [--seed 2147483647] [--bn-var unbiased|biased]
        [--ties] [--w1-scale 1.0] [--corrupt NAME]
      Random parameters (the lecture's initialisation, torch.Generator) and a random batch,
      the lecture's forward with every intermediate's retain_grad(), loss.backward(); writes
      the parameters, Xb, Yb, loss and every gradient t.grad as d<name> (dlogprobs ... dC),
      float32, shapes as PyTorch has them. Check the engine against it with
        build/makemore gradcheck --ref OUT.safetensors
      --corrupt NAME multiplies the largest-magnitude entry of dNAME by 1.001 (a deliberately
      wrong reference that --ref must reject, naming NAME). --no-values writes only the
      parameters, Xb, Yb and the 26 gradients (no forward values, no loss).

  /usr/bin/python3 tests/torch_reference.py check-net FILE.safetensors
      Loads a file of `makemore gradcheck --arch mlp|wavenet ... --dump FILE`, builds the
      model from part 5's classes (Embedding, FlattenConsecutive, Linear, BatchNorm1d with
      the (0, 1) reduction, Tanh) on its tensors, runs autograd in float64 and float32 and
      prints one row per parameter gradient; exit 1 unless every float64 row is
      approximately equal (allclose; for a weight, atol raised by its gradient GEMM's
      float32 rounding bound) and within 1e-5 of the tensor's largest gradient (+1e-8).

  /usr/bin/python3 tests/torch_reference.py check-diag FILE.safetensors [--corrupt NAME]
      The same file's diagnostics (src/model/diag.c: each tanh layer's output and each
      layer's output gradient, mean, std, saturation and histogram; each parameter's
      std(grad)) against the same statistics of autograd's tensors in float64; exit 1
      unless each agrees (mean 1e-5, std 1e-4 relative; saturation and bins up to the values
      within 1e-5 of a boundary). --corrupt NAME scales the file's NAME by 1.001 first (a
      histogram: its fullest bin moved to the next), a file the check must reject.

  /usr/bin/python3 tests/torch_reference.py check-mm FILE.safetensors
      Loads a file of `makemore gradcheck --arch T ... --dump FILE` (makemore.py's six models:
      every parameter under its state_dict name, grad.<name>, X and Y [B,T], the sizes and
      the loss in the metadata), builds the type's model from tests/makemore_torch.py (its
      own masks), runs autograd in float64 and float32 on the file's parameters and batch
      and prints one row per parameter gradient and the loss; exit 1 unless every float64
      row is within 1e-4 of the tensor's largest gradient and the loss within 1e-5 relative
      (the reasons: MM_GRAD_TOL below).

  /usr/bin/python3 tests/torch_reference.py write-mm OUT.safetensors --type T [--batch 32]
        [--seed 42] [--vocab 27] [--block 16] [--n-layer 4] [--n-head 4] [--n-embd 64]
        [--n-embd2 64] [--data WORDS] [--jitter 0] [--grad-dtype float64|float32]
        [--corrupt NAME]
      A file of that format from PyTorch: makemore.py's default initialisation drawn from a
      torch.Generator seeded with --seed (then N(0, JITTER) added, if asked), a batch of
      --batch random words (lengths 1 .. block-1, the first the longest) over --vocab - 1
      characters, or of words drawn from WORDS (whose vocabulary and longest word then set
      vocab and block); gradients by autograd in float64 (or float32) of the float32
      parameters, stored as float32. --corrupt NAME multiplies grad.NAME's largest entry by
      1.001 (a file check-mm, and the engine, must reject).

  /usr/bin/python3 tests/torch_reference.py check FILE.safetensors
      Loads a file written by `makemore gradcheck --dump FILE` (or by `write`), runs autograd
      on its parameters and batch and prints the lecture's cmp() table of the file's
      gradients against PyTorch's; exit status 1 on any mismatch (torch.allclose).

Files written: the parameters (C, W1, b1, W2, b2, bngain, bnbias), Xb, Yb (int64), loss,
every intermediate of the forward by its lecture name (emb ... logprobs) and every gradient
(dlogprobs ... dC), float32, shapes as PyTorch has them; metadata bn_var, eps, source.
`makemore gradcheck --ref` evaluates each of its notebook lines on the file's forward values
and upstream gradients (the lecture's cmp), and also reports its own whole pass.

The committed references (tests/data, read by tests/test_gradcheck.sh) were made with:
  P="/usr/bin/python3 tests/torch_reference.py write"
  $P tests/data/ref_b32_h64.safetensors                       # the lecture's cell
  $P tests/data/ref_b8_h16_ties.safetensors --batch 8 --hidden 16 --ties --seed 1
  $P tests/data/ref_b16_h24_biased.safetensors --batch 16 --hidden 24 --bn-var biased --seed 2
  $P tests/data/ref_b2_h37.safetensors --batch 2 --hidden 37 --w1-scale 1e-3 --seed 3
  $P tests/data/ref_b8_h16_ties_corrupt_dW1.safetensors --batch 8 --hidden 16 --ties --seed 1 \
      --corrupt W1                                 # = ref_b8_h16_ties, one dW1 entry x 1.001
(B = 2 takes W1 x 1e-3 so that the batch variance is of the order of eps: with the lecture's
scale, two normalised values are +-1/sqrt(2) whatever the inputs and batchnorm's input
gradient is a 1e-5 remainder of its terms, which no two float32 formulas agree on to
allclose -- see docs/GRADCHECK.md.)

safetensors is read and written by hand (8-byte little-endian header length, JSON header,
raw little-endian data), so nothing beyond torch is needed.
"""
import argparse
import json
import os
import struct
import sys

import torch

# Exercise 1's gradients in the lecture's cmp() order.
NAMES = ["logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "norm_logits",
         "logit_maxes", "logits", "h", "W2", "b2", "hpreact", "bngain", "bnbias", "bnraw",
         "bnvar_inv", "bnvar", "bndiff2", "bndiff", "bnmeani", "hprebn", "embcat", "W1", "b1",
         "emb", "C"]
PARAMS = ["C", "W1", "b1", "W2", "b2", "bngain", "bnbias"]
EPS = 1e-5
Xb_global = None  # the batch, for lines_backward's embedding line

# ---- safetensors --------------------------------------------------------------------------

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64"}
TORCH_DTYPES = {v: k for k, v in DTYPES.items()}


def st_save(path, tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()  # little-endian on every machine this runs on
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def st_load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        dtype = TORCH_DTYPES[info["dtype"]]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=dtype) if e > b else torch.zeros(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"])
    return tensors, meta

# ---- the lecture's cell -------------------------------------------------------------------


def lecture_params(V, E, T, H, seed, w1_scale):
    g = torch.Generator().manual_seed(seed)
    C = torch.randn((V, E), generator=g)
    # Layer 1
    W1 = torch.randn((E * T, H), generator=g) * (5 / 3) / ((E * T) ** 0.5) * w1_scale
    b1 = torch.randn(H, generator=g) * 0.1  # using b1 just for fun, it's useless because of BN
    # Layer 2
    W2 = torch.randn((H, V), generator=g) * 0.1
    b2 = torch.randn(V, generator=g) * 0.1
    # BatchNorm parameters (non-zero bnbias on purpose: zeros hide backward bugs)
    bngain = torch.randn((1, H), generator=g) * 0.1 + 1.0
    bnbias = torch.randn((1, H), generator=g) * 0.1
    return {"C": C, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "bngain": bngain, "bnbias": bnbias}, g


def forward_backward(p, Xb, Yb, bessel):
    """The lecture's forward, "chunkated into smaller steps that are possible to backward one
    at a time", then loss.backward(). Returns (loss, {name: t.grad})."""
    P = {k: v.clone().requires_grad_() for k, v in p.items()}
    C, W1, b1, W2, b2, bngain, bnbias = (P[k] for k in PARAMS)
    n = Xb.shape[0]
    emb = C[Xb]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    # Linear layer 1
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    # BatchNorm layer
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    if bessel:
        bnvar = 1 / (n - 1) * (bndiff2).sum(0, keepdim=True)  # note: Bessel's correction
    else:
        bnvar = 1 / n * (bndiff2).sum(0, keepdim=True)  # nn.BatchNorm1d's training mode
    bnvar_inv = (bnvar + EPS)**-0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    # Non-linearity
    h = torch.tanh(hpreact)  # hidden layer
    # Linear layer 2
    logits = h @ W2 + b2  # output layer
    # cross entropy loss (same as F.cross_entropy(logits, Yb))
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes  # subtract max for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1  # if I use (1.0 / counts_sum) instead then I can't get backprop to be bit exact...
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    named = dict(logprobs=logprobs, probs=probs, counts_sum_inv=counts_sum_inv,
                 counts_sum=counts_sum, counts=counts, norm_logits=norm_logits,
                 logit_maxes=logit_maxes, logits=logits, h=h, W2=W2, b2=b2, hpreact=hpreact,
                 bngain=bngain, bnbias=bnbias, bnraw=bnraw, bnvar_inv=bnvar_inv, bnvar=bnvar,
                 bndiff2=bndiff2, bndiff=bndiff, bnmeani=bnmeani, hprebn=hprebn,
                 embcat=embcat, W1=W1, b1=b1, emb=emb, C=C)
    for t in named.values():
        if not t.is_leaf:
            t.retain_grad()
    loss.backward()
    return loss.detach(), {k: named[k].grad for k in NAMES}, {k: named[k].detach() for k in NAMES}


def force_ties(p, Xb, Yb, bessel):
    """Two logits columns equal bit for bit in every row and the row's maximum: their W2
    columns zeroed (logits[:, c] = b2[c] exactly) and their b2 set just above every other
    logit of the batch -- the same construction as `makemore gradcheck --ties`."""
    V = p["C"].shape[0]
    c1, c2 = V // 3, V - 1
    p["W2"][:, [c1, c2]] = 0
    p["b2"][[c1, c2]] = 0
    _, _, values = forward_backward(p, Xb, Yb, bessel)
    logits = values["logits"]
    others = [v for v in range(V) if v not in (c1, c2)]
    top = logits[:, others].max() if others else torch.tensor(0.0)
    p["b2"][[c1, c2]] = top + 0.25
    return c1, c2

# ---- commands -----------------------------------------------------------------------------


def cmp(s, dt, t, extra=None):
    """The lecture's cmp(): dt is the checked gradient, t the reference. extra (a tensor
    shaped like t) raises atol entry by entry, for the gradients that are exactly 0."""
    dt = dt.reshape(t.shape) if dt.numel() == t.numel() else dt
    ex = torch.all(dt == t).item()
    diff = (dt - t).abs()
    tol = 1e-8 + 1e-5 * t.abs()
    if extra is None:
        app = torch.allclose(dt, t)
        note = ""
    else:
        app = bool((diff <= tol + extra.reshape(t.shape)).all())
        note = f" | atol: {1e-8 + extra.max().item():.2g} (*)"
    maxdiff = diff.max().item()
    print(f"{s:17s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: {maxdiff}{note}")
    return app


def zero_atol(name, ref):
    """dlogit_maxes and db1 are exactly 0 in exact arithmetic (softmax is shift-invariant;
    batchnorm subtracts the batch mean): float32 gives the rounding of a sum of K terms that
    cancel. As `makemore gradcheck`, allow (K + 4) 2^-23 sum|terms| more (docs/GRADCHECK.md).
    ref holds the reference gradients by name (the terms come from dnorm_logits, dhprebn)."""
    if name == "logit_maxes":
        t = ref["norm_logits"].double()
        return ((t.shape[1] + 4) * 2.0**-23 * t.abs().sum(1, keepdim=True))
    if name == "b1":
        t = ref["hprebn"].double()
        return ((t.shape[0] + 4) * 2.0**-23 * t.abs().sum(0))
    return None


def cmd_write(a):
    bessel = a.bn_var == "unbiased"
    p, g = lecture_params(a.vocab, a.embd, a.block, a.hidden, a.seed, a.w1_scale)
    Xb = torch.randint(0, a.vocab, (a.batch, a.block), generator=g)
    Yb = torch.randint(0, a.vocab, (a.batch,), generator=g)
    ties = force_ties(p, Xb, Yb, bessel) if a.ties else None
    loss, grads, values = forward_backward(p, Xb, Yb, bessel)
    if ties:
        logits = values["logits"]
        m = logits.max(1, keepdim=True).values
        tied = int(((logits == m).sum(1) > 1).sum())
        print(f"ties: {tied} of {a.batch} rows tied at the maximum (columns {ties[0]} and {ties[1]})")
    if a.corrupt:
        if a.corrupt not in grads:
            sys.exit(f"torch_reference.py: --corrupt {a.corrupt}: not one of {', '.join(NAMES)}")
        gflat = grads[a.corrupt].view(-1)
        i = int(gflat.abs().argmax())
        gflat[i] *= 1.001
        print(f"corrupted d{a.corrupt}: entry {i} multiplied by 1.001")
    if a.no_values:  # the parameters, the batch and the 26 gradients alone
        tensors = {k: values[k] for k in PARAMS}
        tensors["Xb"], tensors["Yb"] = Xb, Yb
    else:  # the parameters and every intermediate of the forward
        tensors = dict(values)
        tensors["Xb"], tensors["Yb"], tensors["loss"] = Xb, Yb, loss
    for k in NAMES:
        tensors["d" + k] = grads[k]
    cmdline = " ".join(["tests/torch_reference.py"] + sys.argv[1:])
    meta = {"format": "makemore-gradcheck-1", "bn_var": a.bn_var, "eps": "1e-05",
            "source": f"PyTorch {torch.__version__} autograd (float32): {cmdline}"}
    st_save(a.out, tensors, meta)
    print(f"wrote {a.out}: B={a.batch} T={a.block} E={a.embd} H={a.hidden} V={a.vocab}, "
          f"bn_var {a.bn_var}, loss {loss.item():.6f}")


def lines_backward(v, d, Yb, bessel):
    """Autograd of each forward line on its own: every intermediate of `v` (the file's forward
    values) becomes a leaf, each line is re-run on those leaves, and one backward pass of
        sum over lines of <line output, d[output]> + the loss of the leaf logprobs
    gives, for every X, the sum over its consumers of their vector-Jacobian products with the
    file's upstream gradients: X's gradient line by line, as the lecture's cmp() holds each
    manual line against autograd given the same forward tensors."""
    L = {k: t.clone().float().requires_grad_() for k, t in v.items()}
    n = Yb.shape[0]
    out = {  # each line on the leaves: name -> (recomputed value)
        "emb": L["C"][Xb_global],
        "embcat": L["emb"].view(n, -1),
        "hprebn": L["embcat"] @ L["W1"] + L["b1"],
        "bnmeani": 1 / n * L["hprebn"].sum(0, keepdim=True),
        "bndiff": L["hprebn"] - L["bnmeani"],
        "bndiff2": L["bndiff"]**2,
        "bnvar": (1 / (n - 1) if bessel else 1 / n) * L["bndiff2"].sum(0, keepdim=True),
        "bnvar_inv": (L["bnvar"] + EPS)**-0.5,
        "bnraw": L["bndiff"] * L["bnvar_inv"],
        "hpreact": L["bngain"] * L["bnraw"] + L["bnbias"],
        "h": torch.tanh(L["hpreact"]),
        "logits": L["h"] @ L["W2"] + L["b2"],
        "logit_maxes": L["logits"].max(1, keepdim=True).values,
        "norm_logits": L["logits"] - L["logit_maxes"],
        "counts": L["norm_logits"].exp(),
        "counts_sum": L["counts"].sum(1, keepdims=True),
        "counts_sum_inv": L["counts_sum"]**-1,
        "probs": L["counts"] * L["counts_sum_inv"],
        "logprobs": L["probs"].log(),
    }
    surrogate = -L["logprobs"][range(n), Yb].mean()
    for k, y in out.items():
        surrogate = surrogate + (y * d[k].reshape(y.shape)).sum()
    surrogate.backward()
    return {k: L[k].grad for k in NAMES}


def cmd_check(a):
    global Xb_global
    tensors, meta = st_load(a.file)
    bessel = meta.get("bn_var", "unbiased") == "unbiased"
    if meta.get("eps", "1e-05") not in ("1e-05", "1e-5"):
        sys.exit(f"{a.file}: eps {meta['eps']} (this script's cell uses 1e-05)")
    p = {k: tensors[k].float() for k in PARAMS}
    Xb, Yb = tensors["Xb"].long(), tensors["Yb"].long()
    Xb_global = Xb
    missing = [k for k in NAMES if k not in tensors or "d" + k not in tensors]
    if missing:
        sys.exit(f"{a.file}: missing {', '.join(missing)} (or their d-gradients)")
    v = {k: tensors[k] for k in NAMES}
    d = {k: tensors["d" + k].float() for k in NAMES}
    print(f"{a.file}: B={Xb.shape[0]} T={Xb.shape[1]} E={p['C'].shape[1]} "
          f"H={p['W1'].shape[1]} V={p['C'].shape[0]}, bn_var {'unbiased' if bessel else 'biased'}")
    print(f"its gradients vs PyTorch {torch.__version__} autograd of each line on the file's "
          "forward values\nand upstream gradients (the lecture's cmp):")
    auto = lines_backward(v, d, Yb, bessel)
    ok = True
    for k in NAMES:
        ok &= cmp(k, d[k], auto[k], zero_atol(k, auto))
    print("(*) exactly 0 in exact arithmetic: atol raised by (K + 4) 2^-23 sum|terms| "
          "(docs/GRADCHECK.md)")
    loss, grads, _ = forward_backward(p, Xb, Yb, bessel)
    print("\nthe forward: the file's loss vs PyTorch's from the file's parameters:")
    if "loss" in tensors:
        ok &= cmp("loss", tensors["loss"].float(), loss)
    print("\nand against PyTorch's whole cell (loss.backward() from the file's parameters), end "
          "to end\n(a report: two float32 passes drift apart by accumulated rounding):")
    for k in NAMES:
        print(f"{k:17s} | maxdiff: {(d[k].reshape(grads[k].shape) - grads[k]).abs().max().item():.3g}")
    print("all approximately equal" if ok else "MISMATCH")
    return 0 if ok else 1


# ---- the MLP family (makemore gradcheck --arch ... --dump FILE) -----------------------------
# Part 5's classes, as the notebook has them (BatchNorm1d reduces over (0, 1) for 3-D input),
# holding the file's tensors instead of fresh ones.


class Embedding:
    def __init__(self, weight):
        self.weight = weight

    def __call__(self, IX):
        self.out = self.weight[IX]
        if self.out.requires_grad:
            self.out.retain_grad()
        return self.out


class FlattenConsecutive:
    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = x.squeeze(1)
        self.out = x
        return self.out


class Linear:
    def __init__(self, weight, bias=None):
        self.weight, self.bias = weight, bias

    def __call__(self, x):
        self.inp = x
        self.out = x @ self.weight
        if self.bias is not None:
            self.out = self.out + self.bias
        if self.out.requires_grad:
            self.out.retain_grad()
        return self.out


class BatchNorm1d:
    def __init__(self, gamma, beta, unbiased, eps=EPS):
        self.gamma, self.beta, self.unbiased, self.eps = gamma, beta, unbiased, eps

    def __call__(self, x):
        dim = 0 if x.ndim == 2 else (0, 1)
        xmean = x.mean(dim, keepdim=True)
        xvar = x.var(dim, keepdim=True, unbiased=self.unbiased)
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma * xhat + self.beta
        return self.out


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        if self.out.requires_grad:
            self.out.retain_grad()
        return self.out


class Sequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def net_names(arch, layers):
    """The engine's tensor names (docs/ARCHITECTURES.md): W1..W{L+1}, b{k} (wavenet: only
    the last), bngain{k}, bnbias{k}; mlp with one layer: bngain, bnbias (--norm none: no
    batchnorm's)."""
    L = layers
    num = (lambda k: str(k)) if (arch == "wavenet" or L > 1) else (lambda k: "")
    W = [f"W{k}" for k in range(1, L + 2)]
    b = [f"b{k}" if (arch == "mlp" or k == L + 1) else None for k in range(1, L + 2)]
    g = [f"bngain{num(k)}" for k in range(1, L + 1)]
    be = [f"bnbias{num(k)}" for k in range(1, L + 1)]
    return W, b, g, be


def net_model(p, arch, layers, T, unbiased, norm="batchnorm"):
    W, b, g, be = net_names(arch, layers)
    mods = [Embedding(p["C"])]
    mods.append(FlattenConsecutive(2 if arch == "wavenet" else T))
    for k in range(layers):
        if arch == "wavenet" and k > 0:
            mods.append(FlattenConsecutive(2))
        mods.append(Linear(p[W[k]], p[b[k]] if b[k] else None))
        if norm != "none":
            mods.append(BatchNorm1d(p[g[k]], p[be[k]], unbiased))
        mods.append(Tanh())
    mods.append(Linear(p[W[layers]], p[b[layers]]))
    return Sequential(mods)


def cmd_check_net(a):
    tensors, meta = st_load(a.file)
    arch, layers, T = meta["arch"], int(meta["layers"]), int(meta["block"])
    unbiased = meta.get("bn_var", "unbiased") == "unbiased"
    Xb, Yb = tensors["Xb"].long(), tensors["Yb"].long()
    names = [k for k in tensors if k not in ("Xb", "Yb") and not k.startswith("d")]
    print(f"{a.file}: {arch}, {layers} layer(s), B={Xb.shape[0]} T={T}, bn_var "
          f"{'unbiased' if unbiased else 'biased'}, {sum(tensors[k].numel() for k in names)} parameters")
    ok = True
    for dtype in (torch.float64, torch.float32):
        p = {k: tensors[k].to(dtype).requires_grad_() for k in names}
        model = net_model(p, arch, layers, T, unbiased, meta.get("norm", "batchnorm"))
        logits = model(Xb)
        loss = torch.nn.functional.cross_entropy(logits, Yb)
        loss.backward()
        print(f"\nits gradients vs PyTorch {torch.__version__} autograd in {str(dtype)[6:]} "
              f"(loss: file {float(meta['loss']):.9g}, PyTorch {loss.item():.9g}):")
        print("approximate: torch.allclose (|a-b| <= 1e-8 + 1e-5 |b|), (*) with atol raised by the\n"
              "weight-gradient GEMM's float32 rounding bound (K + 4) 2^-23 sum|in||dout| (as the\n"
              "lecture model's check, docs/GRADCHECK.md); scaled: |a-b| <= 1e-5 max|b| + 1e-8")
        extra = {}  # a weight gradient's float32 rounding bound: (K + 4) 2^-23 sum_b |in| |dout|
        for m in model.layers:
            if isinstance(m, Linear):
                x, d = m.inp.detach().double(), m.out.grad.double()
                x, d = x.reshape(-1, x.shape[-1]), d.reshape(-1, d.shape[-1])
                extra[id(m.weight)] = (x.shape[0] + 4) * 2.0**-23 * (x.abs().T @ d.abs())
        for k in reversed(names):
            ref, dt = p[k].grad.double(), tensors["d" + k].double().reshape(p[k].shape)
            diff = (dt - ref).abs()
            tol = 1e-8 + 1e-5 * ref.abs()
            app = bool((diff <= tol).all())
            raised = ""
            if not app and id(p[k]) in extra:
                app = bool((diff <= tol + extra[id(p[k])]).all())
                raised = f" | atol: {1e-8 + extra[id(p[k])].max().item():.2g} (*)"
            scaled = bool(diff.max() <= 1e-5 * ref.abs().max() + 1e-8)
            ex = torch.all(dt == ref).item()
            print(f"{k:9s} | exact: {str(ex):5s} | approximate: {str(app):5s} | scaled: "
                  f"{str(scaled):5s} | maxdiff: {diff.max().item():.6g}{raised}")
            if dtype == torch.float64:
                ok &= app and scaled
        ok &= dtype != torch.float64 or abs(loss.item() - float(meta["loss"])) <= 1e-5 * loss.item()
    print("\nall rows approximately equal (float64)" if ok else "MISMATCH")
    return 0 if ok else 1


# ---- the diagnostics of a pass (makemore gradcheck --arch mlp|wavenet --dump FILE) ----------
# The file's diag.* tensors (src/cmd/gradcheck_net.c) hold the engine's statistics of the
# pass (src/model/diag.c): for each observed layer its nonlinearity's output and its output's
# gradient ([mean, std, saturated fraction, lo, hi] and DIAG_BINS densities), and every
# parameter's std(grad). Recomputed here from autograd in float64 on the file's parameters.

DIAG_BINS = 50


def diag_ref(x, lo, hi, nl, near_tol):
    """mean, std (unbiased), saturated fraction, the counts in DIAG_BINS bins over [lo, hi],
    and how many values lie within near_tol of a bin edge or the saturation bound."""
    x = x.reshape(-1).double()
    sat = (x.abs() > 0.97).double().mean().item() if nl == "tanh" else 0.0
    w = (hi - lo) / DIAG_BINS
    k = ((x - lo) / w).floor().clamp(0, DIAG_BINS - 1).long()
    inside = (x >= lo) & (x <= hi)
    counts = torch.bincount(k[inside], minlength=DIAG_BINS)
    edges = lo + w * torch.arange(DIAG_BINS + 1, dtype=torch.float64)
    near = int(((x[:, None] - edges[None, :]).abs() < near_tol).sum())
    if nl == "tanh":
        near += int(((x.abs() - 0.97).abs() < near_tol).sum())
    return x.mean().item(), x.std().item(), sat, counts, near


def diag_row(name, got, hist, ref, mtol, stol):
    """One row: the file's [mean, std, sat, lo, hi] and densities against the reference."""
    mean, std, sat, counts, near = ref
    n = counts.sum().item()
    w = (got[4] - got[3]) / DIAG_BINS
    gc = (hist * n * w).round().long()
    moved = int((gc - counts).abs().sum())
    ok = (abs(got[0] - mean) <= mtol and abs(got[1] - std) <= stol * std
          and abs(got[2] - sat) * n <= near + 1e-9 and moved <= 2 * near)
    print(f"{name:26s} | mean {got[0]: .6e} vs {mean: .6e} | std {got[1]:.6e} vs {std:.6e} | "
          f"saturated {100 * got[2]:6.2f}% vs {100 * sat:6.2f}% | bins moved {moved} (near an edge "
          f"{near}) | {'ok' if ok else 'MISMATCH'}")
    return ok


def cmd_check_diag(a):
    tensors, meta = st_load(a.file)
    arch, layers, T = meta["arch"], int(meta["layers"]), int(meta["block"])
    unbiased = meta.get("bn_var", "unbiased") == "unbiased"
    norm = meta.get("norm", "batchnorm")
    if "diag_layers" not in meta:
        sys.exit(f"{a.file}: no diagnostics (written by an older makemore gradcheck --dump?)")
    if a.corrupt:  # a deliberately wrong file: this check must reject it
        if a.corrupt not in tensors:
            sys.exit(f"torch_reference.py: --corrupt {a.corrupt}: not a tensor of {a.file}")
        t = tensors[a.corrupt].view(-1)
        if "_hist." in a.corrupt:  # a histogram: its fullest bin's values moved one bin over
            i = int(t.argmax())
            j = i + 1 if i + 1 < t.numel() else i - 1
            t[j] += t[i]
            t[i] = 0
        else:
            t[:2] *= 1.001
    Xb, Yb = tensors["Xb"].long(), tensors["Yb"].long()
    names = [k for k in tensors if k not in ("Xb", "Yb") and not k.startswith("d")]
    p = {k: tensors[k].double().requires_grad_() for k in names}
    model = net_model(p, arch, layers, T, unbiased, norm)
    loss = torch.nn.functional.cross_entropy(model(Xb), Yb)
    loss.backward()
    mods = [m for m in model.layers if not isinstance(m, BatchNorm1d)]  # = the engine's layers
    print(f"{a.file}: {arch}, {layers} layer(s), norm {norm}, B={Xb.shape[0]}: the engine's "
          f"statistics of the pass vs PyTorch {torch.__version__} autograd in float64")
    ok = True
    for item in meta["diag_layers"].split(","):
        l, kind = item.split(":", 1)
        m = mods[int(l)]
        if kind == "tanh":
            got, hist = tensors[f"diag.act.{l}"].tolist(), tensors[f"diag.act_hist.{l}"]
            ok &= diag_row(f"layer {l} tanh output", got, hist,
                           diag_ref(m.out.detach(), got[3], got[4], "tanh", 1e-5), 1e-5, 1e-4)
        got, hist = tensors[f"diag.grad.{l}"].tolist(), tensors[f"diag.grad_hist.{l}"]
        g = m.out.grad
        tol = 1e-4 * g.abs().max().item()
        ok &= diag_row(f"layer {l} {kind} gradient", got, hist,
                       diag_ref(g, got[3], got[4], "none", tol), 1e-4 * g.std().item() + 1e-12, 1e-4)
        ok &= abs(got[3] - g.min().item()) <= tol and abs(got[4] - g.max().item()) <= tol
    gstd = tensors["diag.grad_std"].tolist()
    for k, name in enumerate(names):
        ref = p[name].grad.std().item()
        good = ref < 1e-6 or abs(gstd[k] - ref) <= 1e-4 * ref  # < 1e-6: a bias before batchnorm (0)
        print(f"{name:26s} | std(grad) {gstd[k]:.9e} vs {ref:.9e} | {'ok' if good else 'MISMATCH'}")
        ok &= good
    print("all statistics agree" if ok else "MISMATCH")
    return 0 if ok else 1


# ---- makemore.py's six models (makemore gradcheck --arch T --dump FILE) --------------------
# The models are tests/makemore_torch.py's (makemore.py's classes: the same state_dict names,
# layouts and arithmetic). A file holds every parameter under its state_dict name, its
# gradient as grad.<name>, X and Y [B,T] (int32, Y = -1 where the loss ignores it) and the
# metadata type, vocab_size, block_size, n_layer, n_head, n_embd, n_embd2, batch, loss.
# The masks (state_dict buffers) are not in the file: the model's own are used.

MM_KEYS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_embd2")

# check-mm's tolerances. The engine computes in float32; the referee is autograd in float64
# on the same float32 parameters, so the reference is exact to ~1e-16 and the difference is
# the engine's own rounding, accumulated through the model: a few float32 ulps (2^-24 ~
# 6e-8) per operation, grown by the GEMMs' sums (K up to 4 n_embd = 256 terms), the
# softmaxes, layernorm's backward (which subtracts two means from its input gradient) and
# T = 16 steps of recurrence. An entry of a gradient can be far below the tensor's scale
# (sums that cancel), so no per-entry relative bound holds; the error is measured against
# the tensor's largest gradient, as check-net does: maxdiff <= MM_GRAD_TOL max|ref| +
# MM_GRAD_ATOL. PyTorch's own float32 pass, an independent float32 implementation, stays
# below 1e-5 of that scale on every type (write-mm --grad-dtype float32, then this check:
# seeds 1-5 at makemore.py's sizes and at small ones, random and names.txt batches, the
# default initialisation and --jitter 0.3); MM_GRAD_TOL allows 10 times that, room for
# another order of summation. Wrong arithmetic lands well above it (measured on a names.txt
# batch at makemore.py's sizes, as the largest maxdiff / max|ref| over the tensors): the
# attention or bag-of-words mask one position too wide 0.97 / 0.36, gru's z and 1 - z
# swapped 2.1, mlp's blank taken as token 0 1.6, erf's GELU for the tanh form 3.3e-4; and
# write-mm --corrupt (one entry off by 1e-3 of its tensor's scale) fails. Below it, and not
# caught: layernorm's eps 1e-6 for 1e-5 (7e-6). The bound is for parameters of makemore.py's
# scale: with N(0, 1) added to every one (--jitter 1) tanh, sigmoid and the softmaxes
# saturate, the forward is ill-conditioned and float32 PyTorch itself drifts up to 2e-3
# (transformer) and 7e-4 (gru) of the embeddings' gradient scale.
# The loss, a mean of B*T float32 log-softmaxes, to MM_LOSS_TOL relative.
MM_GRAD_TOL = 1e-4
MM_GRAD_ATOL = 1e-10
MM_LOSS_TOL = 1e-5


def mm_module():
    """tests/makemore_torch.py, imported from this file's directory."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import makemore_torch
    return makemore_torch


def mm_load_dump(path):
    """(type, Config, params {name: float32}, grads {name: float32}, X, Y, meta) of a dump;
    exits with a one-line message naming what is wrong."""
    mt = mm_module()
    try:
        tensors, meta = st_load(path)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, struct.error) as e:
        sys.exit(f"{path}: not a readable safetensors file ({e})")
    missing = [k for k in ("type",) + MM_KEYS + ("batch", "loss") if k not in meta]
    if missing:
        sys.exit(f"{path}: metadata lacks {', '.join(missing)}")
    t = meta["type"]
    if t not in mt.TYPES:
        sys.exit(f"{path}: metadata type {t!r}: not one of {', '.join(mt.TYPES)}")
    try:
        cfg = mt.Config(**{k: int(meta[k]) for k in MM_KEYS})
        float(meta["loss"])
        B = int(meta["batch"])
    except ValueError as e:
        sys.exit(f"{path}: metadata: {e}")
    model = mt.build(t, cfg)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    for k in ("X", "Y"):
        if k not in tensors or tuple(tensors[k].shape) != (B, cfg.block_size):
            sys.exit(f"{path}: {k}: expected [{B}, {cfg.block_size}] (batch, block_size), found "
                     f"{list(tensors[k].shape) if k in tensors else 'nothing'}")
    X, Y = tensors["X"].long(), tensors["Y"].long()
    if X.min() < 0 or X.max() >= cfg.vocab_size or Y.min() < -1 or Y.max() >= cfg.vocab_size:
        sys.exit(f"{path}: X outside 0..{cfg.vocab_size - 1} or Y outside -1..{cfg.vocab_size - 1}")
    if not (Y >= 0).any():
        sys.exit(f"{path}: every position of Y is -1 (no loss)")
    expected = set(shapes) | {"grad." + n for n in shapes} | {"X", "Y"}
    extra = [k for k in tensors if k not in expected]
    absent = [k for k in sorted(expected) if k not in tensors]
    if extra or absent:
        sys.exit(f"{path}: {t} tensors: missing {', '.join(absent) or 'none'}; unexpected "
                 f"{', '.join(extra) or 'none'}")
    for n, shape in shapes.items():
        for k in (n, "grad." + n):
            if tuple(tensors[k].shape) != shape or tensors[k].dtype != torch.float32:
                sys.exit(f"{path}: {k}: {tensors[k].dtype} {list(tensors[k].shape)}, expected "
                         f"float32 {list(shape)}")
    params = {n: tensors[n] for n in shapes}
    grads = {n: tensors["grad." + n] for n in shapes}
    return t, cfg, params, grads, X, Y, meta


def mm_forward_backward(t, cfg, params, X, Y, dtype):
    """makemore_torch's model of type t with the given parameters (its own buffers) in
    dtype: (loss, {name: gradient})."""
    mt = mm_module()
    model = mt.build(t, cfg).to(dtype)
    state = model.state_dict()  # the buffers, as the module registers them
    state.update({n: p.to(dtype) for n, p in params.items()})
    model.load_state_dict(state, strict=True)
    _, loss = model(X, Y)
    loss.backward()
    return loss, {n: p.grad for n, p in model.named_parameters()}


def cmd_check_mm(a):
    t, cfg, params, grads, X, Y, meta = mm_load_dump(a.file)
    file_loss = float(meta["loss"])
    print(f"{a.file}: {t}, vocab {cfg.vocab_size} block {cfg.block_size} n_layer {cfg.n_layer} "
          f"n_head {cfg.n_head} n_embd {cfg.n_embd} n_embd2 {cfg.n_embd2}, B={X.shape[0]}, "
          f"{int((Y >= 0).sum())} positions in the loss, "
          f"{sum(p.numel() for p in params.values())} parameters")
    ok = True
    for dtype in (torch.float64, torch.float32):
        loss, ref = mm_forward_backward(t, cfg, params, X, Y, dtype)
        print(f"\nits gradients vs PyTorch {torch.__version__} autograd in {str(dtype)[6:]}"
              + ("" if dtype == torch.float64 else " (a report: float32 against float32)") + ":")
        print(f"approximate: maxdiff <= {MM_GRAD_TOL:g} max|ref| + {MM_GRAD_ATOL:g}; rel: maxdiff / "
              "max|ref|")
        for n in params:
            r, d = ref[n].double(), grads[n].double()
            diff = (d - r).abs().max().item()
            scale = r.abs().max().item()
            app = diff <= MM_GRAD_TOL * scale + MM_GRAD_ATOL
            ex = torch.equal(d, r)
            rel = diff / scale if scale > 0 else 0.0
            print(f"{n:35s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: "
                  f"{diff:.6g} | rel: {rel:.3g}")
            if dtype == torch.float64:
                ok &= app
        lapp = abs(file_loss - loss.item()) <= MM_LOSS_TOL * abs(loss.item())
        print(f"{'loss':35s} | exact: {str(file_loss == loss.item()):5s} | approximate: "
              f"{str(lapp):5s} | maxdiff: {abs(file_loss - loss.item()):.6g} | file {file_loss:.9g}, "
              f"PyTorch {loss.item():.9g}")
        if dtype == torch.float64:
            ok &= lapp
    print("\nall rows approximately equal (float64)" if ok else "MISMATCH")
    return 0 if ok else 1


def mm_batch(a, mt, g):
    """(Config, X, Y) for write-mm: B words of the --data file (drawn with replacement), or
    B random words over a random vocabulary: lengths 1 .. block-1 (the first word the longest,
    so that the last position is in the loss), characters 1 .. vocab-1."""
    sizes = dict(n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, n_embd2=a.n_embd2)
    if a.data:
        try:
            words = mt.read_words(a.data)
        except (OSError, UnicodeDecodeError) as e:
            sys.exit(f"torch_reference.py: --data {a.data}: {e}")
        if not words:
            sys.exit(f"torch_reference.py: --data {a.data}: no words")
        chars, T = mt.vocabulary(words), max(len(w) for w in words) + 1
        ds = mt.CharDataset(words, chars, T - 1)
        X, Y = ds.batch(torch.randint(0, len(words), (a.batch,), generator=g).tolist())
        return mt.Config(vocab_size=len(chars) + 1, block_size=T, **sizes), X, Y
    V, T = a.vocab, a.block
    lens = torch.randint(1, T, (a.batch,), generator=g)
    lens[0] = T - 1
    chars = [chr(0x100 + i) for i in range(V - 1)]  # stand-ins: only their indices are kept
    words = ["".join(chars[c] for c in torch.randint(0, V - 1, (int(n),), generator=g))
             for n in lens]
    X, Y = mt.CharDataset(words, chars, T - 1).batch(range(a.batch))
    return mt.Config(vocab_size=V, block_size=T, **sizes), X, Y


def cmd_write_mm(a):
    mt = mm_module()
    g = torch.Generator().manual_seed(a.seed)
    cfg, X, Y = mm_batch(a, mt, g)
    if a.type == "transformer" and cfg.n_embd % cfg.n_head:
        sys.exit(f"torch_reference.py: n_embd {cfg.n_embd} is not a multiple of n_head {cfg.n_head}")
    model = mt.build(a.type, cfg)
    mt.init_params(model, g)  # makemore.py's default initialisation, drawn from g
    with torch.no_grad():
        for p in model.parameters():
            p.add_(a.jitter * torch.randn(p.shape, generator=g))
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    dtype = torch.float64 if a.grad_dtype == "float64" else torch.float32
    loss, grads = mm_forward_backward(a.type, cfg, params, X, Y, dtype)
    grads = {n: gr.float() for n, gr in grads.items()}
    if a.corrupt:
        if a.corrupt not in grads:
            sys.exit(f"torch_reference.py: --corrupt {a.corrupt}: not one of {', '.join(grads)}")
        flat = grads[a.corrupt].view(-1)
        i = int(flat.abs().argmax())
        flat[i] *= 1.001
        print(f"corrupted grad.{a.corrupt}: entry {i} multiplied by 1.001")
    tensors = dict(params)
    tensors.update({"grad." + n: gr for n, gr in grads.items()})
    tensors["X"], tensors["Y"] = X.int(), Y.int()
    meta = {"type": a.type, **{k: getattr(cfg, k) for k in MM_KEYS}, "batch": a.batch,
            "loss": f"{loss.item():.9g}",
            "source": f"PyTorch {torch.__version__} autograd ({a.grad_dtype}) of float32 "
                      f"parameters: tests/torch_reference.py " + " ".join(sys.argv[1:])}
    st_save(a.out, tensors, meta)
    print(f"wrote {a.out}: {a.type}, vocab {cfg.vocab_size} block {cfg.block_size} n_layer "
          f"{cfg.n_layer} n_head {cfg.n_head} n_embd {cfg.n_embd} n_embd2 {cfg.n_embd2}, "
          f"B={a.batch}, {sum(p.numel() for p in params.values())} parameters, loss {loss.item():.6f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write a PyTorch reference file")
    w.add_argument("out")
    w.add_argument("--batch", type=int, default=32)
    w.add_argument("--hidden", type=int, default=64)
    w.add_argument("--embd", type=int, default=10)
    w.add_argument("--block", type=int, default=3)
    w.add_argument("--vocab", type=int, default=27)
    w.add_argument("--seed", type=int, default=2147483647)  # the lecture's generator seed
    w.add_argument("--bn-var", choices=["unbiased", "biased"], default="unbiased")
    w.add_argument("--ties", action="store_true")
    w.add_argument("--w1-scale", type=float, default=1.0,
                   help="scale W1 (and so the batch variance) down, e.g. for B=2")
    w.add_argument("--corrupt", metavar="NAME")
    w.add_argument("--no-values", action="store_true",
                   help="write only the parameters, Xb, Yb and the 26 gradients")
    c = sub.add_parser("check", help="hold a --dump file against autograd")
    c.add_argument("file")
    n = sub.add_parser("check-net", help="hold a gradcheck --arch --dump file against autograd")
    n.add_argument("file")
    dg = sub.add_parser("check-diag", help="hold a gradcheck --arch --dump file's diagnostics "
                        "against autograd")
    dg.add_argument("file")
    dg.add_argument("--corrupt", metavar="NAME", help="multiply the file's tensor NAME by 1.001 "
                    "first, or move a histogram's fullest bin (a file the check must reject)")
    m = sub.add_parser("check-mm", help="hold a gradcheck --arch T --dump file against autograd")
    m.add_argument("file")
    wm = sub.add_parser("write-mm", help="write a makemore.py-model file from PyTorch")
    wm.add_argument("out")
    wm.add_argument("--type", required=True,
                    choices=["bigram", "mlp", "bow", "rnn", "gru", "transformer"])
    wm.add_argument("--batch", type=int, default=32)
    wm.add_argument("--seed", type=int, default=42)
    wm.add_argument("--vocab", type=int, default=None, help="vocab_size (default 27)")
    wm.add_argument("--block", type=int, default=None, help="block_size (default 16)")
    wm.add_argument("--n-layer", type=int, default=4)
    wm.add_argument("--n-head", type=int, default=4)
    wm.add_argument("--n-embd", type=int, default=64)
    wm.add_argument("--n-embd2", type=int, default=64)
    wm.add_argument("--data", metavar="WORDS", help="draw the batch from a words file (its "
                    "vocabulary and block size)")
    wm.add_argument("--jitter", type=float, default=0.0,
                    help="add N(0, JITTER) to every parameter after the initialisation")
    wm.add_argument("--grad-dtype", choices=["float64", "float32"], default="float64")
    wm.add_argument("--corrupt", metavar="NAME")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "write-mm":
        if a.data and (a.vocab is not None or a.block is not None):
            sys.exit("torch_reference.py: --data sets vocab and block: give neither --vocab nor --block")
        a.vocab = 27 if a.vocab is None else a.vocab
        a.block = 16 if a.block is None else a.block
        if a.batch < 1 or a.vocab < 2 or a.block < 2 or min(a.n_layer, a.n_head, a.n_embd,
                                                             a.n_embd2) < 1:
            sys.exit("torch_reference.py: write-mm: batch, n_layer, n_head, n_embd, n_embd2 "
                     "must be >= 1, vocab and block >= 2")
        cmd_write_mm(a)
        return 0
    if a.cmd == "check-mm":
        return cmd_check_mm(a)
    if a.cmd == "write":
        if a.batch < 2 or a.vocab < 2 or min(a.hidden, a.embd, a.block) < 1:
            sys.exit("torch_reference.py: sizes must be >= 1 (batch, vocab >= 2)")
        cmd_write(a)
        return 0
    if a.cmd == "check-net":
        return cmd_check_net(a)
    if a.cmd == "check-diag":
        return cmd_check_diag(a)
    return cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())

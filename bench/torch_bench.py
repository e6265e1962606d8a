#!/usr/bin/python3
"""PyTorch beside the engine: the same operations at the same sizes and thread counts.

Times, with the method of build/bench (warm-up, repetitions calibrated to a sample length,
median and min per call), the lecture's PyTorch code for each bench entry:

  ce_backward_atomic     exercise 1's cross-entropy chain (dlogprobs ... dlogits)
  ce_backward_fused      exercise 2: softmax, subtract one-hot, divide by n
  ce_forward_backward_atomic   the notebook's cross-entropy forward lines, then the chain
  ce_forward_backward_fused    F.cross_entropy, then exercise 2
  bn_backward_atomic     exercise 1's batchnorm chain (dbngain ... dhprebn)
  bn_backward_fused      exercise 3's closed form
  bn_tanh_backward_atomic      dhpreact = (1 - h**2) * dh, then exercise 1's batchnorm chain
  bn_tanh_backward_fused exercise 3 with dhpreact = (1 - h^2) * dh in front
  embedding_backward_loop      the lecture's Python loop over (k, j)
  embedding_backward_index_add dC.index_add_ (the vectorised scatter-add)
  linear_backward        dh = dlogits @ W2.T, dW2 = h.T @ dlogits, db2 = dlogits.sum(0)
  train_step_autograd    the lecture's step: batch, forward, loss.backward(), update
  train_step_manual      exercise 4's step: batch, forward, manual backward, update

makemore.py's kernels (the bench's seq entries), at --seq-sizes B x C (T = 16, n_head = 4,
V = 27, n_embd = n_embd2 = C), with tests/makemore_torch.py's classes (makemore.py's own):
every op but adamw_mm and the ce_masked pair times the backward alone, torch.autograd.grad
of the layer's output over its inputs and parameters with a fixed upstream gradient
(retain_graph: the forward graph is built once, outside the timing):

  layernorm_backward_lines   LayerNorm as the atomic lines (mean, xdiff, xdiff2, var, rstd,
                             xhat, weight*xhat + bias) over [B,T,C]: dx, dweight, dbias
  layernorm_backward_nn      nn.LayerNorm(C) (makemore.py's ln_1, ln_2, ln_f; F.layer_norm)
  attention_backward_lines   the attention between c_attn and c_proj, softmax as lines
                             (max, subtract, exp, sum, reciprocal, multiply): dqkv [B,T,3C]
  attention_backward_mm      makemore.py's CausalSelfAttention between c_attn and c_proj
                             (split, view, transpose, q@k^T*scale, masked_fill, F.softmax,
                             att@v, transpose, view): dqkv
  gelu_backward_mm           makemore.py's NewGELU on c_fc's product plus its bias
                             (pre = prod + bias): dprod, dbias
  gelu_backward_F            the same through F.gelu(approximate='tanh'), torch's one kernel
  adamw_mm                   torch.optim.AdamW(lr 5e-4, weight decay 0.01, betas (0.9, 0.99),
                             eps 1e-8) over makemore.py's Transformer's parameters at C, as
                             makemore.py builds it (torch 1.13's default: a loop over the
                             tensors); optimizer.step() timed
  ce_masked_lines            the notebook's cross-entropy lines over B*T positions, the loss
                             the mean over targets != -1, then autograd: loss and dlogits
  ce_masked_mm               makemore.py's loss, F.cross_entropy(ignore_index=-1), then
                             autograd: loss and dlogits
  gru_backward_mm            makemore.py's GRUCell stepped over T from start.expand(B, -1)
                             on x [B,T,C], hiddens stacked: dx, dstart and the cell's dW, db
  rnn_backward_mm            the same with makemore.py's RNNCell
  bow_backward_mm            makemore.py's BoWBlock on x [B,T,C]: dx and its four dW, db
  context_backward_mm        makemore.py's MLP context (T lookups of wte with the index
                             rolled right and the blank entering, concatenated): dwte

Before timing, each *_lines op's gradients are checked against the module's, F.gelu's
against NewGELU's, and the Transformer's parameter count against the engine's adamw entry's.

Every size/thread pair runs in a child process whose OMP/OpenBLAS thread variables are
set before torch loads, plus torch.set_num_threads(n). Before timing, the manual step's
gradients are checked against autograd's (a fast wrong expression fails loudly).

Run with Debian's python3 (python3-torch is a Debian package): /usr/bin/python3.
Output: CSV (op,B,H,V,T,E,threads,median_us,min_us,samples,reps) to --csv or stdout; a seq
op's row is op,B,C,27,16,C,...
Exit status: 0 ok, 1 a check failed, 2 usage, 3 torch not importable.
"""
import argparse
import math
import os
import subprocess
import sys
import time

V, T, E = 27, 3, 10          # vocabulary, context, embedding width (the lecture's)
N_TRAIN = 182625             # examples in the lecture's training split
INSTALL_HINT = ("PyTorch not importable by %s: install Debian's build with "
                "`sudo apt-get install python3-torch` and run this script with /usr/bin/python3"
                % sys.executable)

ALL_OPS = ["ce_backward_atomic", "ce_backward_fused", "ce_forward_backward_atomic",
           "ce_forward_backward_fused", "bn_backward_atomic",
           "bn_backward_fused", "bn_tanh_backward_atomic", "bn_tanh_backward_fused",
           "embedding_backward_loop", "embedding_backward_index_add", "linear_backward",
           "train_step_autograd", "train_step_manual"]
SEQ_V, SEQ_T, SEQ_NH, SEQ_LAYERS = 27, 16, 4, 4   # makemore.py's defaults on names.txt
SEQ_OPS = ["layernorm_backward_lines", "layernorm_backward_nn", "attention_backward_lines",
           "attention_backward_mm", "gelu_backward_mm", "gelu_backward_F", "adamw_mm",
           "ce_masked_lines", "ce_masked_mm", "gru_backward_mm", "rnn_backward_mm",
           "bow_backward_mm", "context_backward_mm"]
HERE = os.path.dirname(os.path.abspath(__file__))


# ---- timing (the same method as bench/bench_timing.c) -------------------------------

class Plan:
    def __init__(self, quick):
        self.warmup_s = 0.01 if quick else 0.05
        self.sample_s = 0.002 if quick else 0.01
        self.samples = 5 if quick else 21
        self.min_samples = 3
        self.budget_s = 0.15 if quick else 2.0


def time_fn(fn, plan):
    """Median and min seconds per call of fn()."""
    t0 = time.perf_counter()
    calls = 0
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= plan.warmup_s and calls >= 2:
            break
    per_call = elapsed / calls
    reps = max(1, int(plan.sample_s / per_call)) if per_call > 0 else 1
    samples = []
    start = time.perf_counter()
    while len(samples) < plan.samples:
        s0 = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - s0) / reps)
        if time.perf_counter() - start > plan.budget_s and len(samples) >= plan.min_samples:
            break
    samples.sort()
    n = len(samples)
    median = samples[n // 2] if n % 2 else 0.5 * (samples[n // 2 - 1] + samples[n // 2])
    return median, samples[0], n, reps


# ---- the lecture's model, forward expanded as in exercise 1 ------------------------

def make_params(torch, B, H, g):
    C = torch.randn((V, E), generator=g)
    W1 = torch.randn((T * E, H), generator=g) * (5 / 3) / (T * E) ** 0.5
    b1 = torch.randn(H, generator=g) * 0.1
    W2 = torch.randn((H, V), generator=g) * 0.1
    b2 = torch.randn(V, generator=g) * 0.1
    bngain = torch.randn((1, H), generator=g) * 0.1 + 1.0
    bnbias = torch.randn((1, H), generator=g) * 0.1
    return [C, W1, b1, W2, b2, bngain, bnbias]


def forward_expanded(torch, params, Xb, Yb):
    """Exercise 1's forward: every intermediate named, as the notebook has it."""
    C, W1, b1, W2, b2, bngain, bnbias = params
    n = Xb.shape[0]
    f = {}
    f["emb"] = C[Xb]
    f["embcat"] = f["emb"].view(n, -1)
    f["hprebn"] = f["embcat"] @ W1 + b1
    f["bnmeani"] = 1 / n * f["hprebn"].sum(0, keepdim=True)
    f["bndiff"] = f["hprebn"] - f["bnmeani"]
    f["bndiff2"] = f["bndiff"] ** 2
    f["bnvar"] = 1 / (n - 1) * f["bndiff2"].sum(0, keepdim=True)
    f["bnvar_inv"] = (f["bnvar"] + 1e-5) ** -0.5
    f["bnraw"] = f["bndiff"] * f["bnvar_inv"]
    f["hpreact"] = bngain * f["bnraw"] + bnbias
    f["h"] = torch.tanh(f["hpreact"])
    f["logits"] = f["h"] @ W2 + b2
    f["logit_maxes"] = f["logits"].max(1, keepdim=True).values
    f["norm_logits"] = f["logits"] - f["logit_maxes"]
    f["counts"] = f["norm_logits"].exp()
    f["counts_sum"] = f["counts"].sum(1, keepdims=True)
    f["counts_sum_inv"] = f["counts_sum"] ** -1
    f["probs"] = f["counts"] * f["counts_sum_inv"]
    f["logprobs"] = f["probs"].log()
    f["loss"] = -f["logprobs"][range(n), Yb].mean()
    return f


def forward_compact(torch, F, params, Xb, Yb):
    """Exercise 4's forward (the one the lecture trains with)."""
    C, W1, b1, W2, b2, bngain, bnbias = params
    emb = C[Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmean = hprebn.mean(0, keepdim=True)
    bnvar = hprebn.var(0, keepdim=True, unbiased=True)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = (hprebn - bnmean) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    loss = F.cross_entropy(logits, Yb)
    return dict(emb=emb, embcat=embcat, bnvar_inv=bnvar_inv, bnraw=bnraw, h=h,
                logits=logits, loss=loss)


# ---- the operations ------------------------------------------------------------------

def ce_backward_atomic(torch, F, f, Yb):
    n = Yb.shape[0]
    dlogprobs = torch.zeros_like(f["logprobs"])
    dlogprobs[range(n), Yb] = -1.0 / n
    dprobs = (1.0 / f["probs"]) * dlogprobs
    dcounts_sum_inv = (f["counts"] * dprobs).sum(1, keepdim=True)
    dcounts = f["counts_sum_inv"] * dprobs
    dcounts_sum = (-f["counts_sum"] ** -2) * dcounts_sum_inv
    dcounts += torch.ones_like(f["counts"]) * dcounts_sum
    dnorm_logits = f["counts"] * dcounts
    dlogits = dnorm_logits.clone()
    dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
    dlogits += F.one_hot(f["logits"].max(1).indices, num_classes=V) * dlogit_maxes
    return dlogits


def ce_backward_fused(torch, F, logits, Yb):
    n = Yb.shape[0]
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1
    dlogits /= n
    return dlogits


def ce_forward_lines(torch, logits, Yb):
    """The notebook's cross-entropy forward, logit_maxes ... loss."""
    n = Yb.shape[0]
    f = {"logits": logits}
    f["logit_maxes"] = logits.max(1, keepdim=True).values
    f["norm_logits"] = logits - f["logit_maxes"]
    f["counts"] = f["norm_logits"].exp()
    f["counts_sum"] = f["counts"].sum(1, keepdims=True)
    f["counts_sum_inv"] = f["counts_sum"] ** -1
    f["probs"] = f["counts"] * f["counts_sum_inv"]
    f["logprobs"] = f["probs"].log()
    f["loss"] = -f["logprobs"][range(n), Yb].mean()
    return f


def ce_forward_backward_atomic(torch, F, logits, Yb):
    f = ce_forward_lines(torch, logits, Yb)
    return f["loss"], ce_backward_atomic(torch, F, f, Yb)


def ce_forward_backward_fused(torch, F, logits, Yb):
    return F.cross_entropy(logits, Yb), ce_backward_fused(torch, F, logits, Yb)


def bn_backward_atomic(torch, f, bngain, dhpreact):
    n = dhpreact.shape[0]
    dbngain = (f["bnraw"] * dhpreact).sum(0, keepdim=True)
    dbnraw = bngain * dhpreact
    dbnbias = dhpreact.sum(0, keepdim=True)
    dbndiff = f["bnvar_inv"] * dbnraw
    dbnvar_inv = (f["bndiff"] * dbnraw).sum(0, keepdim=True)
    dbnvar = (-0.5 * (f["bnvar"] + 1e-5) ** -1.5) * dbnvar_inv
    dbndiff2 = (1.0 / (n - 1)) * torch.ones_like(f["bndiff2"]) * dbnvar
    dbndiff += (2 * f["bndiff"]) * dbndiff2
    dhprebn = dbndiff.clone()
    dbnmeani = (-dbndiff).sum(0)
    dhprebn += 1.0 / n * (torch.ones_like(f["hprebn"]) * dbnmeani)
    return dhprebn, dbngain, dbnbias


def bn_backward_fused(bngain, bnvar_inv, bnraw, dhpreact):
    n = dhpreact.shape[0]
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0)
                                        - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
    return dhprebn, dbngain, dbnbias


def bn_tanh_backward_fused(bngain, bnvar_inv, bnraw, h, dh):
    return bn_backward_fused(bngain, bnvar_inv, bnraw, (1.0 - h ** 2) * dh)


def embedding_backward_loop(torch, C, Xb, demb):
    dC = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            ix = Xb[k, j]
            dC[ix] += demb[k, j]
    return dC


def embedding_backward_index_add(torch, C, Xb, demb):
    dC = torch.zeros_like(C)
    dC.index_add_(0, Xb.view(-1), demb.view(-1, E))
    return dC


def linear_backward(dlogits, h, W2):
    return dlogits @ W2.T, h.T @ dlogits, dlogits.sum(0)


def manual_backward(torch, F, params, fw, Xb, Yb):
    """Exercise 4: the fused backward, dC vectorised with index_add_."""
    C, W1, b1, W2, b2, bngain, bnbias = params
    n = Xb.shape[0]
    dlogits = ce_backward_fused(torch, F, fw["logits"], Yb)
    dh, dW2, db2 = linear_backward(dlogits, fw["h"], W2)
    dhprebn, dbngain, dbnbias = bn_tanh_backward_fused(bngain, fw["bnvar_inv"], fw["bnraw"],
                                                       fw["h"], dh)
    dembcat = dhprebn @ W1.T
    dW1 = fw["embcat"].T @ dhprebn
    db1 = dhprebn.sum(0)
    dC = embedding_backward_index_add(torch, C, Xb, dembcat.view(n, T, E))
    return [dC, dW1, db1, dW2, db2, dbngain, dbnbias]


# ---- one size, one thread count ---------------------------------------------------

class Case:
    """Inputs of every operation at batch B, hidden H (synthetic data, seeded)."""

    def __init__(self, torch, F, B, H):
        g = torch.Generator().manual_seed(42 + B * 7919 + H)
        self.torch, self.F, self.B, self.H = torch, F, B, H
        self.Xtr = torch.randint(0, V, (N_TRAIN, T), generator=g)
        self.Ytr = torch.randint(0, V, (N_TRAIN,), generator=g)
        self.g = g
        self.params = make_params(torch, B, H, g)
        ix = torch.randint(0, N_TRAIN, (B,), generator=g)
        self.Xb, self.Yb = self.Xtr[ix], self.Ytr[ix]
        self.f = forward_expanded(torch, self.params, self.Xb, self.Yb)
        self.dh = torch.randn((B, H), generator=g) * 0.01
        self.dhpreact = (1.0 - self.f["h"] ** 2) * self.dh
        self.demb = torch.randn((B, T, E), generator=g) * 0.01
        self.dlogits = ce_backward_fused(torch, F, self.f["logits"], self.Yb)

    def op(self, name):
        """A no-argument callable running operation `name`."""
        torch, F, f, p = self.torch, self.F, self.f, self.params
        table = {
            "ce_backward_atomic": lambda: ce_backward_atomic(torch, F, f, self.Yb),
            "ce_backward_fused": lambda: ce_backward_fused(torch, F, f["logits"], self.Yb),
            "ce_forward_backward_atomic": lambda: ce_forward_backward_atomic(
                torch, F, f["logits"], self.Yb),
            "ce_forward_backward_fused": lambda: ce_forward_backward_fused(
                torch, F, f["logits"], self.Yb),
            "bn_backward_atomic": lambda: bn_backward_atomic(torch, f, p[5], self.dhpreact),
            "bn_backward_fused": lambda: bn_backward_fused(p[5], f["bnvar_inv"], f["bnraw"],
                                                           self.dhpreact),
            "bn_tanh_backward_atomic": lambda: bn_backward_atomic(
                torch, f, p[5], (1.0 - f["h"] ** 2) * self.dh),
            "bn_tanh_backward_fused": lambda: bn_tanh_backward_fused(
                p[5], f["bnvar_inv"], f["bnraw"], f["h"], self.dh),
            "embedding_backward_loop": lambda: embedding_backward_loop(torch, p[0], self.Xb,
                                                                       self.demb),
            "embedding_backward_index_add": lambda: embedding_backward_index_add(
                torch, p[0], self.Xb, self.demb),
            "linear_backward": lambda: linear_backward(self.dlogits, f["h"], p[3]),
            "train_step_autograd": self.step_autograd,
            "train_step_manual": self.step_manual,
        }
        return table[name]

    def batch(self):
        ix = self.torch.randint(0, N_TRAIN, (self.B,), generator=self.g)
        return self.Xtr[ix], self.Ytr[ix]

    def step_manual(self, lr=0.001):
        Xb, Yb = self.batch()
        with self.torch.no_grad():
            fw = forward_compact(self.torch, self.F, self.params, Xb, Yb)
            grads = manual_backward(self.torch, self.F, self.params, fw, Xb, Yb)
            for p, grad in zip(self.params, grads):
                p.data += -lr * grad
        return fw["loss"]

    def step_autograd(self, lr=0.001):
        Xb, Yb = self.batch()
        for p in self.params:
            p.requires_grad_(True)
        fw = forward_compact(self.torch, self.F, self.params, Xb, Yb)
        for p in self.params:
            p.grad = None
        fw["loss"].backward()
        with self.torch.no_grad():
            for p in self.params:
                p.data += -lr * p.grad
        for p in self.params:
            p.requires_grad_(False)
        return fw["loss"]

    def check(self):
        """Manual gradients (exercise 4) against autograd's, at this size. Returns a message
        naming the worst tensor, or None when all agree within float rounding."""
        torch = self.torch
        params = [p.clone().requires_grad_(True) for p in self.params]
        fw = forward_compact(torch, self.F, params, self.Xb, self.Yb)
        fw["loss"].backward()
        with torch.no_grad():
            grads = manual_backward(torch, self.F, params, fw, self.Xb, self.Yb)
        names = ["C", "W1", "b1", "W2", "b2", "bngain", "bnbias"]
        for name, p, grad in zip(names, params, grads):
            # db1 is ~0 (batchnorm cancels b1): an absolute floor keeps it from failing
            scale = p.grad.abs().max().item()
            diff = (grad.reshape(p.grad.shape) - p.grad).abs().max().item()
            if not diff <= 1e-3 * scale + 1e-6:
                return "d%s: max |manual - autograd| = %.3g, max |autograd| = %.3g" % (
                    name, diff, scale)
        return None


# ---- makemore.py's kernels -------------------------------------------------------------

def grad_fn(torch, out, inputs, dout):
    """A callable running the backward of out alone (the graph kept for the next call)."""
    inputs = list(inputs)
    return lambda: torch.autograd.grad(out, inputs, dout, retain_graph=True)


class SeqCase:
    """Inputs of makemore.py's kernels at batch B, width C (T = 16, n_head = 4, V = 27)."""

    def __init__(self, torch, F, B, C):
        sys.path.insert(0, os.path.join(HERE, "..", "tests"))
        import makemore_torch as mt
        self.torch, self.F, self.mt, self.B, self.C = torch, F, mt, B, C
        self.cfg = mt.Config(vocab_size=SEQ_V, block_size=SEQ_T, n_layer=SEQ_LAYERS,
                             n_head=SEQ_NH, n_embd=C, n_embd2=C)
        self.g = torch.Generator().manual_seed(7 + B * 7919 + C)
        torch.manual_seed(11 + B * 7919 + C)  # the modules' default initialisation

    def randn(self, *shape, scale=1.0, grad=False):
        x = self.torch.randn(shape, generator=self.g) * scale
        return x.requires_grad_(grad)

    # LayerNorm over [B,T,C]
    def layernorm(self, lines):
        torch, B, T, C = self.torch, self.B, SEQ_T, self.C
        x = self.randn(B, T, C, grad=True)
        ln = torch.nn.LayerNorm(C)
        if lines:
            w, b = ln.weight, ln.bias
            mean = 1.0 / C * x.sum(-1, keepdim=True)
            xdiff = x - mean
            xdiff2 = xdiff ** 2
            var = 1.0 / C * xdiff2.sum(-1, keepdim=True)
            rstd = (var + 1e-5) ** -0.5
            xhat = xdiff * rstd
            out = w * xhat + b
        else:
            out = ln(x)
        return out, [x, ln.weight, ln.bias]

    # the attention between c_attn's output qkv [B,T,3C] and c_proj's input
    def attention(self, lines):
        torch, F, B, T, C, nh = self.torch, self.F, self.B, SEQ_T, self.C, SEQ_NH
        hs = C // nh
        qkv = self.randn(B, T, 3 * C, grad=True)
        bias = self.mt.causal_mask(T, 4)
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))
        if lines:
            preatt = q @ k.transpose(-2, -1)
            scaled = preatt * (1.0 / math.sqrt(hs))
            masked = scaled.masked_fill(bias[:, :, :T, :T] == 0, float("-inf"))
            maxes = masked.max(-1, keepdim=True).values
            norm = masked - maxes
            exps = norm.exp()
            sums = exps.sum(-1, keepdim=True)
            inv = sums ** -1
            att = exps * inv
        else:  # makemore.py's CausalSelfAttention.forward between c_attn and c_proj
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            att = F.softmax(att.masked_fill(bias[:, :, :T, :T] == 0, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return y, [qkv]

    # GELU on c_fc's output [B*T, 4C]: pre = prod + bias
    def gelu(self, functional):
        N, M = self.B * SEQ_T, 4 * self.C
        prod = self.randn(N, M, grad=True)
        bias = self.randn(M, scale=0.1, grad=True)
        pre = prod + bias
        out = self.F.gelu(pre, approximate="tanh") if functional else self.mt.NewGELU()(pre)
        return out, [prod, bias]

    def targets(self):
        """[B,T]: a word of 2..15 characters and its end token, the rest -1."""
        torch, B, T = self.torch, self.B, SEQ_T
        Y = torch.randint(0, SEQ_V, (B, T), generator=self.g)
        length = torch.randint(3, T + 1, (B, 1), generator=self.g)
        Y[torch.arange(T).unsqueeze(0) >= length] = -1
        return Y

    def ce(self, lines):
        """A callable: the loss and dlogits."""
        torch, F = self.torch, self.F
        logits = self.randn(self.B, SEQ_T, SEQ_V, scale=2.0, grad=True)
        Y = self.targets().view(-1)
        valid = (Y >= 0).nonzero().squeeze(1)
        Yv = Y[valid]

        def run_lines():
            l = logits.view(-1, SEQ_V)
            logit_maxes = l.max(1, keepdim=True).values
            norm_logits = l - logit_maxes
            counts = norm_logits.exp()
            counts_sum = counts.sum(1, keepdims=True)
            counts_sum_inv = counts_sum ** -1
            probs = counts * counts_sum_inv
            logprobs = probs.log()
            loss = -logprobs[valid, Yv].mean()
            return loss, torch.autograd.grad(loss, logits)[0]

        def run_mm():  # makemore.py's loss
            loss = F.cross_entropy(logits.view(-1, SEQ_V), Y, ignore_index=-1)
            return loss, torch.autograd.grad(loss, logits)[0]
        return run_lines if lines else run_mm

    def recurrence(self, cell_type):
        torch, B, T, C = self.torch, self.B, SEQ_T, self.C
        cell = {"gru": self.mt.GRUCell, "rnn": self.mt.RNNCell}[cell_type](self.cfg)
        start = torch.nn.Parameter(self.randn(1, C, scale=0.1))
        x = self.randn(B, T, C, grad=True)
        h = start.expand((B, -1))
        states = []
        for t in range(T):  # makemore.py's RNN.forward, from its embedding to lm_head's input
            h = cell(x[:, t, :], h)
            states.append(h)
        return torch.stack(states, 1), [x, start] + list(cell.parameters())

    def bow(self):
        block = self.mt.BoWBlock(self.cfg)
        x = self.randn(self.B, SEQ_T, self.C, grad=True)
        return block(x), [x] + list(block.parameters())

    def context(self):
        torch, B, T = self.torch, self.B, SEQ_T
        wte = torch.nn.Embedding(SEQ_V + 1, self.C)
        ctx = torch.randint(0, SEQ_V, (B, T), generator=self.g)
        parts = []
        for _ in range(T):  # makemore.py's MLP.forward up to the concatenation
            parts.append(wte(ctx))
            ctx = torch.roll(ctx, 1, 1)
            ctx[:, 0] = SEQ_V
        return torch.cat(parts, -1), [wte.weight]

    def adamw(self):
        torch = self.torch
        model = self.mt.build("transformer", self.cfg)
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=self.g) * 0.01
        opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01,
                                betas=(0.9, 0.99), eps=1e-8)
        return opt.step

    def backward_op(self, out_inputs):
        out, inputs = out_inputs
        dout = self.randn(*out.shape, scale=0.01)
        return grad_fn(self.torch, out, inputs, dout)

    def op(self, name):
        """A no-argument callable running operation `name`."""
        build = {
            "layernorm_backward_lines": lambda: self.backward_op(self.layernorm(True)),
            "layernorm_backward_nn": lambda: self.backward_op(self.layernorm(False)),
            "attention_backward_lines": lambda: self.backward_op(self.attention(True)),
            "attention_backward_mm": lambda: self.backward_op(self.attention(False)),
            "gelu_backward_mm": lambda: self.backward_op(self.gelu(False)),
            "gelu_backward_F": lambda: self.backward_op(self.gelu(True)),
            "adamw_mm": self.adamw,
            "ce_masked_lines": lambda: self.ce(True),
            "ce_masked_mm": lambda: self.ce(False),
            "gru_backward_mm": lambda: self.backward_op(self.recurrence("gru")),
            "rnn_backward_mm": lambda: self.backward_op(self.recurrence("rnn")),
            "bow_backward_mm": lambda: self.backward_op(self.bow()),
            "context_backward_mm": lambda: self.backward_op(self.context()),
        }
        return build[name]()

    def check(self):
        """Each lines form's gradients against the module's (same inputs), and F.gelu's
        against NewGELU's. Returns a message naming the first that differ, or None."""
        torch = self.torch
        pairs = [("layernorm_backward_lines", "layernorm_backward_nn"),
                 ("attention_backward_lines", "attention_backward_mm"),
                 ("gelu_backward_F", "gelu_backward_mm"),
                 ("ce_masked_lines", "ce_masked_mm")]
        C = self.C  # the engine's adamw entry counts the Transformer's parameters so:
        n_engine = 2 * SEQ_V * C + SEQ_T * C + SEQ_LAYERS * (12 * C * C + 13 * C) + 2 * C
        n_model = sum(p.numel() for p in self.mt.build("transformer", self.cfg).parameters())
        if n_model != n_engine:
            return "the Transformer has %d parameters, the engine's adamw entry %d" % (
                n_model, n_engine)
        state = self.g.get_state()
        for a, b in pairs:
            results = []
            for name in (a, b):
                self.g.set_state(state)  # the same inputs for both
                results.append([t.detach() for t in self.op(name)()])
            for ga, gb in zip(*results):
                scale = gb.abs().max().item()
                diff = (ga - gb).abs().max().item()
                if not diff <= 1e-5 * scale + 1e-9:
                    return "%s vs %s: max |diff| %.3g, max |ref| %.3g" % (a, b, diff, scale)
        self.g.set_state(state)
        return None


def run_child(args):
    """Times every requested op at one thread count (the environment already set)."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 3
    torch.set_num_threads(args.child_threads)
    plan = Plan(args.quick)
    ops = [op for op in args.ops.split(",") if op in ALL_OPS]
    seq_ops = [op for op in args.ops.split(",") if op in SEQ_OPS]
    status = 0
    out = sys.stdout
    for B, C in parse_sizes(args.seq_sizes) if seq_ops else []:
        case = SeqCase(torch, F, B, C)
        problem = case.check()
        if problem:
            print("torch_bench: FAIL at B=%d C=%d: %s" % (B, C, problem), file=sys.stderr)
            status = 1
            continue
        for op in seq_ops:
            median, best, n, reps = time_fn(case.op(op), plan)
            out.write("%s,%d,%d,%d,%d,%d,%d,%.3f,%.3f,%d,%d\n" % (
                op, B, C, SEQ_V, SEQ_T, C, args.child_threads, median * 1e6, best * 1e6, n, reps))
            out.flush()
            print("torch_bench: %-30s B=%-5d C=%-5d threads=%d  %10.1f us" % (
                op, B, C, args.child_threads, median * 1e6), file=sys.stderr)
    for B, H in parse_sizes(args.sizes) if ops else []:
        case = Case(torch, F, B, H)
        problem = case.check()
        if problem:
            print("torch_bench: FAIL at B=%d H=%d: %s" % (B, H, problem), file=sys.stderr)
            status = 1
            continue
        for op in ops:
            median, best, n, reps = time_fn(case.op(op), plan)
            out.write("%s,%d,%d,%d,%d,%d,%d,%.3f,%.3f,%d,%d\n" % (
                op, B, H, V, T, E, args.child_threads, median * 1e6, best * 1e6, n, reps))
            out.flush()
            print("torch_bench: %-30s B=%-5d H=%-5d threads=%d  %10.1f us" % (
                op, B, H, args.child_threads, median * 1e6), file=sys.stderr)
    return status


def parse_sizes(text):
    sizes = []
    for item in text.split(","):
        b, _, h = item.lower().partition("x")
        sizes.append((int(b), int(h)))
    return sizes


def run_parent(args):
    """One child per thread count, its thread variables set before torch loads."""
    threads = [int(t) for t in args.threads.split(",")]
    header = "# torch %s; python %s\nop,B,H,V,T,E,threads,median_us,min_us,samples,reps\n"
    version = probe_torch_version()
    if version is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 3
    sink = open(args.csv, "w") if args.csv else sys.stdout
    sink.write(header % (version, sys.version.split()[0]))
    sink.flush()
    status = 0
    for n in threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n),
                   MKL_NUM_THREADS=str(n))
        cmd = [sys.executable, os.path.abspath(__file__), "--child-threads", str(n),
               "--sizes", args.sizes, "--seq-sizes", args.seq_sizes,
               "--ops", args.ops] + (["--quick"] if args.quick else [])
        child = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        sink.write(child.stdout)
        sink.flush()
        if child.returncode != 0:
            status = child.returncode
    if sink is not sys.stdout:
        sink.close()
    return status


def probe_torch_version():
    """'1.13.1, OpenBLAS core Cooperlake' (the BLAS torch loaded), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.ones(2, 2) @ torch.ones(2, 2)  # loads the BLAS
    return "%s (%s)" % (torch.__version__, blas_core())


def blas_core():
    """The core of the OpenBLAS this process loaded, as openblas_get_corename() says."""
    import ctypes
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "openblas" in line or "libblas" in line})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return "OpenBLAS core " + lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "BLAS not OpenBLAS"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="32x64,32x200,512x512,4096x1024",
                    help="comma-separated BxH list (V=27, T=3, E=10 fixed)")
    ap.add_argument("--seq-sizes", default="32x64,256x128",
                    help="comma-separated BxC list for makemore.py's kernels (T=16, n_head=4, "
                    "V=27, n_embd = n_embd2 = C)")
    ap.add_argument("--threads", default="1,%d" % os.cpu_count(),
                    help="comma-separated thread counts")
    ap.add_argument("--ops", default=",".join(ALL_OPS + SEQ_OPS),
                    help="comma-separated operations")
    ap.add_argument("--csv", help="write the CSV here instead of stdout")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    ap.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    unknown = [op for op in args.ops.split(",") if op not in ALL_OPS + SEQ_OPS]
    if unknown:
        ap.error("unknown op(s) %s; known: %s" % (",".join(unknown), ",".join(ALL_OPS + SEQ_OPS)))
    try:
        parse_sizes(args.sizes)
    except ValueError:
        ap.error("--sizes wants BxH[,BxH...], e.g. 32x200,4096x1024")
    try:
        if any(C % SEQ_NH for _, C in parse_sizes(args.seq_sizes)):
            raise ValueError
    except ValueError:
        ap.error("--seq-sizes wants BxC[,BxC...] with C a multiple of %d, e.g. 32x64" % SEQ_NH)
    if args.child_threads:
        return run_child(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())

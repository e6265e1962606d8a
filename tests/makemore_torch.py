#!/usr/bin/python3
"""makemore.py's six models and its data, in PyTorch, for the engine's checks and benches.

Karpathy's makemore.py (github.com/karpathy/makemore) trains six character-level models:
bigram, mlp, bow, rnn, gru and transformer. This module has the same six, written afresh:
the same arithmetic in the same order of operations, the same parameters under the same
state_dict names, registered in the same order, the same buffers (the causal masks), so that
a state_dict of a model here loads into makemore.py's class of the same type with
strict=True and the other way round. Its data helpers follow makemore.py's CharDataset and
create_datasets; InfiniteLoader is its InfiniteDataLoader.

Import it from tests/torch_reference.py (check-mm, write-mm), tests/mm_export.py and
bench/torch_makemore.py; run with Debian's /usr/bin/python3 (python3-torch).

    from makemore_torch import Config, build, read_words, create_datasets
    model = build("transformer", Config(vocab_size=27, block_size=16))
    logits, loss = model(X, Y)          # X, Y [B, T]; Y = -1 where the loss ignores it

The models (C = n_embd, C2 = n_embd2, V = vocab_size, T = block_size; nn.Linear weights are
[out, in], as PyTorch keeps them):

  bigram       logits [V, V]: the next character's logits are row X of the table.
  mlp          wte [V+1, C] (row V: the blank before the word's start); at position t the
               embeddings of X[t], X[t-1], ..., X[t-T+1] (blank where t-k < 0) concatenated,
               then mlp.0 [C2, T*C] -> tanh -> mlp.2 [V, C2].
  bow          wte [V, C] + wpe [T, C]; x += the mean of x over positions <= t (a softmax of
               zeros under the causal mask); x += c_proj(tanh(c_fc(x))) (C -> C2 -> C);
               lm_head [V, C].
  rnn          h_0 = start [1, C2]; h_t = tanh(xh_to_h [C2, C+C2] @ [wte(X[t]), h_{t-1}]);
               lm_head [V, C2] on every h_t.
  gru          the same with r = sigmoid(xh_to_r(xh)), hbar = tanh(xh_to_hbar([x, r*h])),
               z = sigmoid(xh_to_z(xh)), h_t = (1 - z) h_{t-1} + z hbar.
  transformer  GPT-2: wte + wpe, n_layer blocks (x += attn(ln_1(x)); x += mlp(ln_2(x)),
               causal multi-head attention with n_head heads, tanh-approximated GELU, MLP
               C -> 4C -> C), ln_f, lm_head [V, C] without bias.

The loss of every type: F.cross_entropy over all B*T positions with ignore_index=-1.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

TYPES = ("bigram", "mlp", "bow", "rnn", "gru", "transformer")


@dataclass
class Config:
    vocab_size: int          # characters + 1 (index 0: the start/stop token)
    block_size: int          # the longest word + 1
    n_layer: int = 4         # transformer blocks
    n_head: int = 4          # transformer attention heads
    n_embd: int = 64         # embedding width (every type but bigram)
    n_embd2: int = 64        # hidden width (mlp, bow, rnn, gru)


def lm_loss(logits, targets):
    """Mean cross-entropy over the positions whose target is not -1."""
    if targets is None:
        return None
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def causal_mask(T, ndim):
    """A [.., T, T] lower-triangular matrix of ones with ndim dimensions in all."""
    return torch.tril(torch.ones(T, T)).view(*([1] * (ndim - 2)), T, T)


# ---- bigram --------------------------------------------------------------------------------

class Bigram(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros((cfg.vocab_size, cfg.vocab_size)))

    def get_block_size(self):
        return 1  # one character of context

    def forward(self, idx, targets=None):
        out = self.logits[idx]
        return out, lm_loss(out, targets)


# ---- mlp (Bengio et al. 2003) --------------------------------------------------------------

class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.block_size, self.vocab_size = cfg.block_size, cfg.vocab_size
        self.wte = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd)  # + the blank, index V
        self.mlp = nn.Sequential(nn.Linear(cfg.block_size * cfg.n_embd, cfg.n_embd2), nn.Tanh(),
                                 nn.Linear(cfg.n_embd2, cfg.vocab_size))

    def get_block_size(self):
        return self.block_size

    def forward(self, idx, targets=None):
        # context k of position t is the token k places back, or the blank before the word
        ctx, parts = idx, []
        for _ in range(self.block_size):
            parts.append(self.wte(ctx))
            ctx = torch.roll(ctx, 1, 1)  # a copy: shift right by one ...
            ctx[:, 0] = self.vocab_size  # ... and the blank enters at the left
        out = self.mlp(torch.cat(parts, -1))
        return out, lm_loss(out, targets)


# ---- bow -----------------------------------------------------------------------------------

class CausalBoW(nn.Module):
    """The mean of the vectors at positions <= t: attention with every score 0."""

    def __init__(self, cfg):
        super().__init__()
        self.block_size = cfg.block_size
        self.register_buffer("bias", causal_mask(cfg.block_size, 3))

    def forward(self, x):
        B, T, C = x.size()
        w = torch.zeros((B, T, T), dtype=x.dtype, device=x.device)  # x's dtype: float64 runs too
        w = w.masked_fill(self.bias[:, :T, :T] == 0, float("-inf"))
        return F.softmax(w, dim=-1) @ x


class BoWBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cbow = CausalBoW(cfg)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(cfg.n_embd, cfg.n_embd2),
                                      c_proj=nn.Linear(cfg.n_embd2, cfg.n_embd)))

    def forward(self, x):
        x = x + self.cbow(x)
        return x + self.mlp.c_proj(torch.tanh(self.mlp.c_fc(x)))


class BoW(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.block_size, self.vocab_size = cfg.block_size, cfg.vocab_size
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.context_block = BoWBlock(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size)

    def get_block_size(self):
        return self.block_size

    def forward(self, idx, targets=None):
        T = idx.size(1)
        assert T <= self.block_size, f"sequence of {T} longer than block_size {self.block_size}"
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device).unsqueeze(0)
        x = self.context_block(self.wte(idx) + self.wpe(pos))
        out = self.lm_head(x)
        return out, lm_loss(out, targets)


# ---- rnn and gru ---------------------------------------------------------------------------

class RNNCell(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.xh_to_h = nn.Linear(cfg.n_embd + cfg.n_embd2, cfg.n_embd2)

    def forward(self, xt, hprev):
        return torch.tanh(self.xh_to_h(torch.cat([xt, hprev], dim=1)))


class GRUCell(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        n_in = cfg.n_embd + cfg.n_embd2
        self.xh_to_z = nn.Linear(n_in, cfg.n_embd2)     # the update gate
        self.xh_to_r = nn.Linear(n_in, cfg.n_embd2)     # the reset gate
        self.xh_to_hbar = nn.Linear(n_in, cfg.n_embd2)  # the candidate state

    def forward(self, xt, hprev):
        xh = torch.cat([xt, hprev], dim=1)
        r = torch.sigmoid(self.xh_to_r(xh))
        hbar = torch.tanh(self.xh_to_hbar(torch.cat([xt, r * hprev], dim=1)))
        z = torch.sigmoid(self.xh_to_z(xh))
        return (1 - z) * hprev + z * hbar


class RNN(nn.Module):
    def __init__(self, cfg, cell_type):
        super().__init__()
        self.block_size, self.vocab_size = cfg.block_size, cfg.vocab_size
        self.start = nn.Parameter(torch.zeros(1, cfg.n_embd2))  # h_0, learned
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.cell = {"rnn": RNNCell, "gru": GRUCell}[cell_type](cfg)
        self.lm_head = nn.Linear(cfg.n_embd2, cfg.vocab_size)

    def get_block_size(self):
        return self.block_size

    def forward(self, idx, targets=None):
        B, T = idx.size()
        emb = self.wte(idx)
        h = self.start.expand((B, -1))
        states = []
        for t in range(T):
            h = self.cell(emb[:, t, :], h)
            states.append(h)
        out = self.lm_head(torch.stack(states, 1))
        return out, lm_loss(out, targets)


# ---- transformer (GPT-2) -------------------------------------------------------------------

class NewGELU(nn.Module):
    """GELU, tanh approximation (GPT-2's)."""

    def forward(self, x):
        # one expression, in this order: autograd then sums x's three gradient terms in
        # makemore.py's order, and the gradients are bit for bit its own
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi)
                                           * (x + 0.044715 * torch.pow(x, 3.0))))


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be a multiple of n_head"
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)  # q, k, v of every head
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.register_buffer("bias", causal_mask(cfg.block_size, 4))
        self.n_head, self.n_embd = cfg.n_head, cfg.n_embd

    def forward(self, x):
        B, T, C = x.size()
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))  # B nh T hs
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = F.softmax(att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)  # the heads side by side
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(cfg.n_embd, 4 * cfg.n_embd),
                                      c_proj=nn.Linear(4 * cfg.n_embd, cfg.n_embd),
                                      act=NewGELU()))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        m = self.mlp
        return x + m.c_proj(m.act(m.c_fc(self.ln_2(x))))


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.block_size = cfg.block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=nn.LayerNorm(cfg.n_embd)))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    def get_block_size(self):
        return self.block_size

    def forward(self, idx, targets=None):
        T = idx.size(1)
        assert T <= self.block_size, f"sequence of {T} longer than block_size {self.block_size}"
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device).unsqueeze(0)
        tr = self.transformer
        x = tr.wte(idx) + tr.wpe(pos)
        for block in tr.h:
            x = block(x)
        out = self.lm_head(tr.ln_f(x))
        return out, lm_loss(out, targets)


def build(type_, cfg):
    """The model of makemore.py's --type, with PyTorch's default initialisation drawn from
    the global generator (as makemore.py's constructors draw it)."""
    if type_ == "bigram":
        return Bigram(cfg)
    if type_ == "mlp":
        return MLP(cfg)
    if type_ == "bow":
        return BoW(cfg)
    if type_ in ("rnn", "gru"):
        return RNN(cfg, type_)
    if type_ == "transformer":
        return Transformer(cfg)
    raise ValueError(f"model type {type_!r}: one of {', '.join(TYPES)}")


def buffers(type_, cfg):
    """The state_dict entries that are not parameters (the causal masks), by name."""
    if type_ == "transformer":
        return {f"transformer.h.{i}.attn.bias": causal_mask(cfg.block_size, 4)
                for i in range(cfg.n_layer)}
    if type_ == "bow":
        return {"context_block.cbow.bias": causal_mask(cfg.block_size, 3)}
    return {}


@torch.no_grad()
def init_params(model, g):
    """Redraws every parameter from generator g as PyTorch's default initialisation of its
    module does, module by module in registration order: nn.Linear weight and bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_ with a = sqrt(5)), nn.Embedding
    N(0, 1), nn.LayerNorm ones and zeros, bigram's table and rnn's start zeros. The draws are
    those of `torch.manual_seed(seed); build(type, cfg)`, from g instead of the global
    generator."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            bound = 1 / math.sqrt(m.in_features) if m.in_features > 0 else 0
            m.weight.uniform_(-bound, bound, generator=g)
            if m.bias is not None:
                m.bias.uniform_(-bound, bound, generator=g)
        elif isinstance(m, nn.Embedding):
            m.weight.normal_(0, 1, generator=g)
        elif isinstance(m, nn.LayerNorm):
            m.weight.fill_(1)
            m.bias.fill_(0)
        elif isinstance(m, (Bigram, RNN)):
            (m.logits if isinstance(m, Bigram) else m.start).zero_()


# ---- data ----------------------------------------------------------------------------------

def read_words(path):
    """makemore.py's reading: the file's lines (str.splitlines), stripped, empty ones dropped."""
    with open(path, "r", encoding="utf-8") as f:
        lines = f.read().splitlines()
    return [w for w in (line.strip() for line in lines) if w]


def vocabulary(words):
    """The sorted distinct characters; index 0 is the start/stop token, chars[i] is i + 1."""
    return sorted(set("".join(words)))


class CharDataset(torch.utils.data.Dataset):
    """Words as (x, y) pairs of length max_word_length + 1: x = [0, w...] padded with 0,
    y = [w..., 0, -1, -1, ...] (the stop token, then positions the loss ignores)."""

    def __init__(self, words, chars, max_word_length):
        self.words, self.chars, self.max_word_length = words, chars, max_word_length
        self.stoi = {ch: i + 1 for i, ch in enumerate(chars)}
        self.itos = {i: ch for ch, i in self.stoi.items()}

    def __len__(self):
        return len(self.words)

    def contains(self, word):
        return word in self.words

    def get_vocab_size(self):
        return len(self.chars) + 1

    def get_output_length(self):
        return self.max_word_length + 1

    def encode(self, word):
        return torch.tensor([self.stoi[c] for c in word], dtype=torch.long)

    def decode(self, ix):
        return "".join(self.itos[i] for i in ix)

    def __getitem__(self, i):
        ix = self.encode(self.words[i])
        n = len(ix)
        x = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        y = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        x[1:1 + n] = ix
        y[:n] = ix
        y[n + 1:] = -1
        return x, y

    def batch(self, indices):
        """X, Y [len(indices), max_word_length + 1] for the given word indices."""
        xs, ys = zip(*(self[i] for i in indices))
        return torch.stack(xs), torch.stack(ys)


def create_datasets(path, seed=3407):
    """makemore.py's split of a words file: a test set of min(1000, 10%) words taken by
    torch.randperm under `seed` (makemore.py seeds the global generator with its --seed,
    3407 by default, and draws nothing before the permutation), the rest for training.
    seed=None draws from the global generator, as makemore.py does: after
    torch.manual_seed(s), the split, then build() and InfiniteLoader draw what makemore.py's
    run with --seed s draws. Returns (train, test) CharDatasets over one vocabulary and
    block size."""
    words = read_words(path)
    if not words:
        raise ValueError(f"{path}: no words")
    chars = vocabulary(words)
    max_len = max(len(w) for w in words)
    n_test = min(1000, int(len(words) * 0.1))
    g = None if seed is None else torch.Generator().manual_seed(seed)
    rp = torch.randperm(len(words), generator=g).tolist()
    train = [words[i] for i in rp[:len(rp) - n_test]]
    test = [words[i] for i in rp[len(rp) - n_test:]]
    return CharDataset(train, chars, max_len), CharDataset(test, chars, max_len)


class InfiniteLoader:
    """Batches drawn with replacement for ever: makemore.py's InfiniteDataLoader (a
    DataLoader over RandomSampler(replacement=True, num_samples=1e10)). next() -> [X, Y]."""

    def __init__(self, dataset, **loader_kwargs):
        sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=int(1e10))
        self.loader = torch.utils.data.DataLoader(dataset, sampler=sampler, **loader_kwargs)
        self.it = iter(self.loader)

    def next(self):
        try:
            return next(self.it)
        except StopIteration:  # after 1e10 samples
            self.it = iter(self.loader)
            return next(self.it)

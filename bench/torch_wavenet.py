#!/usr/bin/python3
"""Times part 5's training step in PyTorch (the notebook's classes and loop) on one thread.

  /usr/bin/python3 bench/torch_wavenet.py [--steps 3000] [--threads 1] [--data data/names.txt]

Builds the notebook's WaveNet (block 8, embd 24, hidden 128: Embedding, three levels of
FlattenConsecutive(2) -> Linear(no bias) -> BatchNorm1d -> Tanh, Linear; 76 579
parameters) and runs its training cell for --steps steps at B = 32 after 200 warm-up steps:
batch sampling, forward, zero_grad, backward, SGD update, running statistics. Prints
the median and minimum over 5 blocks of microseconds per step. Compare with
  build/makemore train --arch wavenet --steps 20000 --threads 1 --samples 0
whose "time:" line covers the same work per step.
"""
import argparse
import random
import time

import torch


class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.randn((fan_in, fan_out)) / fan_in**0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        self.out = x @ self.weight
        if self.bias is not None:
            self.out += self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])


class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma, self.beta = torch.ones(dim), torch.zeros(dim)
        self.running_mean, self.running_var = torch.zeros(dim), torch.ones(dim)

    def __call__(self, x):
        if self.training:
            dim = 0 if x.ndim == 2 else (0, 1)
            xmean = x.mean(dim, keepdim=True)
            xvar = x.var(dim, keepdim=True)
        else:
            xmean, xvar = self.running_mean, self.running_var
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma * xhat + self.beta
        if self.training:
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
        return self.out

    def parameters(self):
        return [self.gamma, self.beta]


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


class Embedding:
    def __init__(self, num, dim):
        self.weight = torch.randn((num, dim))

    def __call__(self, IX):
        self.out = self.weight[IX]
        return self.out

    def parameters(self):
        return [self.weight]


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

    def parameters(self):
        return []


class Sequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        self.out = x
        return self.out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


def build_dataset(words, stoi, block):
    X, Y = [], []
    for w in words:
        context = [0] * block
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="data/names.txt")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    words = open(a.data).read().splitlines()
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    vocab, block, n_embd, n_hidden = len(stoi), 8, 24, 128
    random.seed(42)
    random.shuffle(words)
    Xtr, Ytr = build_dataset(words[:int(0.8 * len(words))], stoi, block)
    torch.manual_seed(42)
    model = Sequential([
        Embedding(vocab, n_embd),
        FlattenConsecutive(2), Linear(n_embd * 2, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
        FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
        FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
        Linear(n_hidden, vocab),
    ])
    with torch.no_grad():
        model.layers[-1].weight *= 0.1
    parameters = model.parameters()
    for p in parameters:
        p.requires_grad = True
    print(f"pytorch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"{sum(p.nelement() for p in parameters)} parameters")

    def step(i):
        ix = torch.randint(0, Xtr.shape[0], (32,))
        Xb, Yb = Xtr[ix], Ytr[ix]
        logits = model(Xb)
        loss = torch.nn.functional.cross_entropy(logits, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < 150000 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        return loss

    for i in range(200):
        step(i)
    per = []
    n = max(1, a.steps // 5)
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(n):
            step(i)
        per.append(1e6 * (time.perf_counter() - t0) / n)
    per.sort()
    print(f"part 5 training step, B=32: median {per[2]:.1f} us/step, min {per[0]:.1f} us/step "
          f"(5 blocks of {n} steps)")


if __name__ == "__main__":
    main()

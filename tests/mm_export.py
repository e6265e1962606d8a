#!/usr/bin/python3
"""An engine model file as makemore.py's model.pt, and the makemore.py command to sample it.

  /usr/bin/python3 tests/mm_export.py MODEL.safetensors OUT/model.pt [--words WORDS]
        [--check WORDS]
      (OUT alone, any path not ending in .pt, means OUT/model.pt; OUT is created.)

MODEL.safetensors is a model file the engine wrote for one of makemore.py's six types: its
tensors are already makemore.py's parameters under their state_dict names and in PyTorch's
layouts; its metadata holds `type`, the sizes (vocab_size, block_size, n_layer, n_head,
n_embd, n_embd2) and `itos`, the vocabulary ('.' the start/stop token, then the characters;
each byte written as the code point of the same value). Other tensors in the file (the
optimiser's state, say) are left out. The export adds the causal masks that makemore.py
registers as buffers (the transformer's transformer.h.<i>.attn.bias [1,1,T,T], bow's
context_block.cbow.bias [1,T,T]), loads the whole into tests/makemore_torch.py's model of
the type with strict=True (every name and shape checked) and torch.saves its state_dict,
which makemore.py loads with

  python makemore.py -i WORDS -o OUT --type T --n-layer .. --n-head .. --n-embd ..
         --n-embd2 .. --sample-only

(makemore.py reads OUT/model.pt, and rebuilds the vocabulary and block size from WORDS, the
words file the model was trained on: they must be the file's. makemore.py imports
torch.utils.tensorboard, from the tensorboard package.) --words WORDS checks that WORDS
gives the model's vocabulary and block size under makemore.py's reading (lines stripped,
empty ones dropped, characters as text) and puts its path in the printed command.

--check WORDS evaluates the exported model, read back from OUT/model.pt, on every word of
WORDS: the mean cross-entropy per predicted character (each word's characters and its stop
token), and makemore.py's estimator (the mean of per-batch mean losses over batches of 100
words), here over all words in file order instead of makemore.py's 11 shuffled batches.
makemore.py's own test split is a torch.randperm under its seed that the engine does not
reproduce, so pass the engine's test words when you have them in a file, or the whole words
file (then the figure mixes training and held-out words).

Exit status: 0 done, 1 a file or check failed, 2 usage.
"""
import argparse
import os
import shlex
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import makemore_torch as mt  # noqa: E402  (makemore.py's classes)
from torch_reference import st_load  # noqa: E402  (the safetensors reader)

SIZES = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_embd2")


def fail(msg):
    print(f"mm_export.py: {msg}", file=sys.stderr)
    sys.exit(1)


def export(model_path, out_path):
    """The core. Returns (type, Config, chars)."""
    tensors, meta = st_load(model_path)
    type_, cfg = meta["type"], mt.Config(**{k: int(meta[k]) for k in SIZES})
    chars = meta["itos"][1:]  # itos[0] is '.', the start/stop token: makemore.py's index 0
    model = mt.build(type_, cfg)
    state = {name: tensors[name] for name, _ in model.named_parameters()}
    state.update(mt.buffers(type_, cfg))  # the causal masks, as makemore.py registers them
    model.load_state_dict(state, strict=True)
    torch.save(model.state_dict(), out_path)
    return type_, cfg, chars


def check_file(model_path):
    """What export() relies on, with a one-line error for each way a file can miss it."""
    try:
        tensors, meta = st_load(model_path)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        fail(f"{model_path}: not a readable safetensors file ({e})")
    lacking = [k for k in ("type",) + SIZES + ("itos",) if k not in meta]
    if lacking:
        fail(f"{model_path}: metadata lacks {', '.join(lacking)} (not a model file of one of "
             f"makemore.py's types)")
    if meta["type"] not in mt.TYPES:
        fail(f"{model_path}: type {meta['type']!r}: not one of {', '.join(mt.TYPES)}")
    try:
        cfg = mt.Config(**{k: int(meta[k]) for k in SIZES})
    except ValueError as e:
        fail(f"{model_path}: metadata: {e}")
    itos = meta["itos"]
    if len(itos) != cfg.vocab_size or itos[:1] != ".":
        fail(f"{model_path}: itos {itos!r}: expected '.' then {cfg.vocab_size - 1} characters")
    if any(ord(c) > 0x7f for c in itos):
        fail(f"{model_path}: the vocabulary has bytes above 0x7f: the engine's vocabulary is "
             "bytes, makemore.py's is text characters; only an ASCII vocabulary carries over")
    model = mt.build(meta["type"], cfg)
    for name, p in model.named_parameters():
        if name not in tensors:
            fail(f"{model_path}: no tensor {name} (a {meta['type']} has "
                 f"{', '.join(n for n, _ in model.named_parameters())})")
        if tuple(tensors[name].shape) != tuple(p.shape) or tensors[name].dtype != torch.float32:
            fail(f"{model_path}: {name}: {tensors[name].dtype} {list(tensors[name].shape)}, "
                 f"expected float32 {list(p.shape)}")
    return len(tensors) - sum(1 for _ in model.parameters()), cfg, itos[1:]


def words_of(path, chars, cfg, same_vocabulary):
    """path's words under makemore.py's reading; exits unless they fit the model (and, with
    same_vocabulary, give exactly its vocabulary and block size)."""
    try:
        words = mt.read_words(path)
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{path}: {e}")
    if not words:
        fail(f"{path}: no words")
    longest = max(len(w) for w in words)
    if same_vocabulary:
        found = "".join(mt.vocabulary(words))
        if found != chars or longest + 1 != cfg.block_size:
            fail(f"{path}: makemore.py would build vocabulary {found!r} and block_size "
                 f"{longest + 1} from it; the model has {chars!r} and {cfg.block_size}")
    unknown = sorted(set("".join(words)) - set(chars))
    if unknown or longest + 1 > cfg.block_size:
        fail(f"{path}: characters outside the model's vocabulary ({''.join(unknown)!r}) or a "
             f"word longer than block_size - 1 = {cfg.block_size - 1}")
    return words


@torch.inference_mode()
def evaluate(type_, cfg, chars, out_path, words):
    model = mt.build(type_, cfg)
    model.load_state_dict(torch.load(out_path), strict=True)  # the file makemore.py loads
    model.eval()
    ds = mt.CharDataset(words, list(chars), cfg.block_size - 1)
    total, count, batch_means = 0.0, 0, []
    for i in range(0, len(words), 100):
        X, Y = ds.batch(range(i, min(i + 100, len(words))))
        logits, loss = model(X, Y)
        n = int((Y >= 0).sum())
        total += loss.item() * n
        count += n
        batch_means.append(loss.item())
    return total / count, count, sum(batch_means) / len(batch_means)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="the engine's model file (safetensors)")
    ap.add_argument("out", help="makemore.py's model.pt to write (a path not ending in .pt is "
                    "a directory: DIR/model.pt)")
    ap.add_argument("--words", metavar="WORDS", help="the words file the model was trained on")
    ap.add_argument("--check", metavar="WORDS", help="evaluate the exported model on these words")
    a = ap.parse_args()
    out = a.out
    if not out.endswith(".pt") or os.path.isdir(out):
        out = os.path.join(out, "model.pt")
    ignored, cfg, chars = check_file(a.model)
    if a.words:
        words_of(a.words, chars, cfg, same_vocabulary=True)
    check = words_of(a.check, chars, cfg, same_vocabulary=False) if a.check else None
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    type_, cfg, chars = export(a.model, out)
    n_params = sum(p.numel() for p in mt.build(type_, cfg).parameters())
    left = f" ({ignored} other tensors of the file left out)" if ignored else ""
    print(f"wrote {out}: {type_}, {n_params} parameters, vocab_size {cfg.vocab_size}, "
          f"block_size {cfg.block_size}{left}")
    if os.path.basename(out) != "model.pt":
        print(f"note: makemore.py reads WORK_DIR/model.pt; rename {out} to model.pt")
    print("sample it with makemore.py:")
    words = shlex.quote(a.words) if a.words else "WORDS"
    print(f"  python makemore.py -i {words} -o {shlex.quote(os.path.dirname(out) or '.')} "
          f"--type {type_} --n-layer {cfg.n_layer} --n-head {cfg.n_head} --n-embd {cfg.n_embd} "
          f"--n-embd2 {cfg.n_embd2} --sample-only")
    if not a.words:
        print(f"  (WORDS: the words file it was trained on; makemore.py takes vocabulary "
              f"{chars!r} and block_size {cfg.block_size} from it)")
    if check:
        per_char, n, per_batch = evaluate(type_, cfg, chars, out, check)
        print(f"loss on {a.check}: {per_char:.4f} per character ({len(check)} words, {n} "
              f"characters with the stop token); {per_batch:.4f} as makemore.py's evaluate "
              f"averages it (the mean of batch means, batches of 100 words)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

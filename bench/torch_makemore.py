#!/usr/bin/python3
"""makemore.py's training step in PyTorch, timed as makemore.py times it, per model type.

  /usr/bin/python3 bench/torch_makemore.py [--types bigram,mlp,bow,rnn,gru,transformer]
        [--steps 200] [--warmup 20] [--data data/names.txt] [--threads 1] [--batch 32]
        [--n-layer 4] [--n-head 4] [--n-embd 64] [--n-embd2 64] [--seed 3407] [--csv FILE]

      tests/makemore_torch.py's classes (makemore.py's six models) on makemore.py's training
      split of the words file, with its defaults: AdamW (lr 5e-4, weight decay 0.01, betas
      (0.9, 0.99), eps 1e-8), batch 32, n_layer 4, n_head 4, n_embd 64, n_embd2 64, its
      infinite loader (num_workers 0). Each step is makemore.py's loop body timed as it times
      it: t0 before the batch is taken from the loader, t1 after optimizer.step()
      (time.time()). After --warmup steps, the median (and min) of --steps steps' times, in
      ms. One line per type; --csv FILE writes
      type,params,threads,batch,steps,median_ms,min_ms,source (FILE '-': stdout).

  /usr/bin/python3 bench/torch_makemore.py --makemore PATH/makemore.py [--steps 200] ...
      The same figures from the real makemore.py: for each type it runs PATH in a
      subprocess (this interpreter; a stub torch.utils.tensorboard module put in
      sys.modules first, as makemore.py imports SummaryWriter; OMP/MKL/OpenBLAS threads and
      torch.set_num_threads at --threads) with -i DATA -o TMPDIR --type T --num-workers 0
      --device cpu --max-steps (warmup + steps) and the sizes, and parses its lines
      "step N | loss L | step time X ms", printed every 10th step: the median and min over
      those at N >= --warmup. Both sources, this script's classes and makemore.py itself,
      print side by side with --both.

  /usr/bin/python3 bench/torch_makemore.py --makemore PATH/makemore.py --test-loss N ...
      Trains N steps with the real makemore.py per type and reports the last test loss it
      printed (it evaluates every 500 steps, so N > 500) and the run's wall time, for
      comparing converged losses with the engine's. makemore.py splits the words with
      torch.randperm under --seed (3407, makemore.py's default).

Run with Debian's python3 (python3-torch): /usr/bin/python3. Exit status: 0 done, 1 a run
failed (one line on stderr saying which and why), 2 usage.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

TYPES = ("bigram", "mlp", "bow", "rnn", "gru", "transformer")
HERE = os.path.dirname(os.path.abspath(__file__))

# Runs makemore.py (argv[1]) as __main__ with a stand-in for torch.utils.tensorboard (the
# SummaryWriter makemore.py writes its losses to), on argv[2] threads, with argv[3:] as its
# command line.
RUNNER = r"""
import runpy, sys, types
stub = types.ModuleType("torch.utils.tensorboard")
class SummaryWriter:
    def __init__(self, *a, **k): pass
    def add_scalar(self, *a, **k): pass
    def flush(self): pass
    def close(self): pass
stub.SummaryWriter = SummaryWriter
sys.modules["torch.utils.tensorboard"] = stub
import torch
torch.set_num_threads(int(sys.argv[2]))
path = sys.argv[1]
sys.argv = [path] + sys.argv[3:]
runpy.run_path(path, run_name="__main__")
"""


def die(msg):
    print(f"torch_makemore.py: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- this script's classes -----------------------------------------------------------------

def time_classes(a, type_):
    """(params, [ms per step]) of makemore.py's loop with tests/makemore_torch.py's model."""
    import torch
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    import makemore_torch as mt
    torch.manual_seed(a.seed)  # makemore.py's order: the seed, the split, the model, the loader
    train, _ = mt.create_datasets(a.data, seed=None)
    cfg = mt.Config(vocab_size=train.get_vocab_size(), block_size=train.get_output_length(),
                    n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, n_embd2=a.n_embd2)
    model = mt.build(type_, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99),
                            eps=1e-8)
    loader = mt.InfiniteLoader(train, batch_size=a.batch, pin_memory=True, num_workers=0)
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.time()
        X, Y = [t.to("cpu") for t in loader.next()]
        _, loss = model(X, Y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t1 = time.time()
        if step >= a.warmup:
            times.append((t1 - t0) * 1000)
    if not torch.isfinite(loss):
        die(f"{type_}: the loss is {loss.item()} after {a.warmup + a.steps} steps")
    return sum(p.numel() for p in model.parameters()), times


# ---- the real makemore.py ------------------------------------------------------------------

def run_makemore(a, type_, max_steps):
    """Runs makemore.py for type_; returns (stdout, wall seconds)."""
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(a.threads)
    env["PYTHONWARNINGS"] = "ignore"
    with tempfile.TemporaryDirectory(prefix="makemore-") as work:
        cmd = [sys.executable, "-c", RUNNER, a.makemore, str(a.threads),
               "-i", os.path.abspath(a.data), "-o", work, "--type", type_,
               "--num-workers", "0", "--device", "cpu", "--max-steps", str(max_steps),
               "--seed", str(a.seed), "--batch-size", str(a.batch),
               "--n-layer", str(a.n_layer), "--n-head", str(a.n_head),
               "--n-embd", str(a.n_embd), "--n-embd2", str(a.n_embd2)]
        t0 = time.time()
        try:
            p = subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        except OSError as e:
            die(f"{type_}: cannot run {sys.executable}: {e}")
        wall = time.time() - t0
    if p.returncode != 0:
        lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
        die(f"{type_}: makemore.py exited with status {p.returncode}: "
            f"{lines[-1] if lines else '(no message)'}")
    return p.stdout, wall


def params_of(out, type_):
    m = re.search(r"^model #params: (\d+)$", out, re.M)
    if not m:
        die(f"{type_}: no 'model #params' line in makemore.py's output")
    return int(m.group(1))


def time_makemore(a, type_):
    """(params, [ms per step]) from makemore.py's own "step time" lines."""
    out, _ = run_makemore(a, type_, a.warmup + a.steps)
    times = [float(ms) for step, ms in
             re.findall(r"^step (\d+) \| loss \S+ \| step time ([0-9.]+)ms$", out, re.M)
             if int(step) >= a.warmup]
    if not times:
        die(f"{type_}: no 'step time' line at step >= {a.warmup} in makemore.py's output")
    return params_of(out, type_), times


def test_loss_makemore(a, type_):
    out, wall = run_makemore(a, type_, a.test_loss)
    found = re.findall(r"^step (\d+) train loss: (\S+) test loss: (\S+)$", out, re.M)
    if not found:
        die(f"{type_}: makemore.py printed no test loss in {a.test_loss} steps")
    step, train, test = found[-1]
    return params_of(out, type_), int(step), float(train), float(test), wall


# ---- main ----------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"torch_makemore.py: {message} (--help for the usage)\n")


def main():
    ap = Parser(description=__doc__.split("\n")[0])
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "data", "names.txt"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--n-embd2", type=int, default=64)
    ap.add_argument("--seed", type=int, default=3407)
    ap.add_argument("--csv", metavar="FILE")
    ap.add_argument("--makemore", metavar="PATH", help="the real makemore.py to run")
    ap.add_argument("--both", action="store_true", help="time the classes and --makemore")
    ap.add_argument("--test-loss", type=int, metavar="N", help="train N steps with --makemore "
                    "and report its last test loss")
    a = ap.parse_args()
    types = [t for t in a.types.split(",") if t]
    bad = [t for t in types if t not in TYPES]
    if bad or not types:
        ap.error(f"--types: {','.join(bad) or 'none'}: choose from {','.join(TYPES)}")
    if a.steps < 1 or a.warmup < 0 or a.threads < 1 or a.batch < 1:
        ap.error("--steps, --threads and --batch must be >= 1, --warmup >= 0")
    if (a.both or a.test_loss is not None) and not a.makemore:
        ap.error("--both and --test-loss need --makemore PATH")
    if a.test_loss is not None and a.test_loss <= 500:
        ap.error("--test-loss N: makemore.py evaluates at steps 500, 1000, ...: N must be > 500")
    if "transformer" in types and (a.n_head < 1 or a.n_embd % a.n_head):
        ap.error(f"--n-embd {a.n_embd} must be a multiple of --n-head {a.n_head} (transformer)")
    if min(a.n_layer, a.n_embd, a.n_embd2) < 1:
        ap.error("--n-layer, --n-embd and --n-embd2 must be >= 1")
    if a.makemore and not os.path.isfile(a.makemore):
        die(f"--makemore {a.makemore}: no such file")
    if not os.path.isfile(a.data):
        die(f"--data {a.data}: no such file (make data/names.txt obtains names.txt)")
    if a.makemore:
        a.makemore = os.path.abspath(a.makemore)
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    try:
        import torch
    except ImportError:
        die(f"PyTorch is not importable by {sys.executable}: run with /usr/bin/python3 "
            "(Debian's python3-torch)")
    torch.set_num_threads(a.threads)
    print(f"pytorch {torch.__version__}, {a.threads} thread(s); {os.path.basename(a.data)}, "
          f"batch {a.batch}, n_layer {a.n_layer} n_head {a.n_head} n_embd {a.n_embd} "
          f"n_embd2 {a.n_embd2}", flush=True)

    if a.test_loss is not None:
        print(f"makemore.py ({a.makemore}), {a.test_loss} steps, seed {a.seed}:")
        for t in types:
            params, step, train, test, wall = test_loss_makemore(a, t)
            print(f"{t:12s} {params:8d} params  step {step}: train loss {train:.4f}  test loss "
                  f"{test:.4f}  wall {wall:.1f} s", flush=True)
        return 0

    sources = (["classes", "makemore.py"] if a.both else
               ["makemore.py"] if a.makemore else ["classes"])
    print(f"step time as makemore.py measures it (batch taken .. optimizer.step()), median and "
          f"min of {a.steps} steps after {a.warmup}" +
          (" (makemore.py prints every 10th step: those)" if a.makemore else ""))
    rows = []
    for t in types:
        for src in sources:
            params, times = time_classes(a, t) if src == "classes" else time_makemore(a, t)
            med, lo = statistics.median(times), min(times)
            rows.append((t, params, a.threads, a.batch, len(times), med, lo, src))
            print(f"{t:12s} {params:8d} params  {med:8.3f} ms/step median  {lo:8.3f} min  "
                  f"({len(times)} steps, {src})", flush=True)
    if a.csv:
        text = "type,params,threads,batch,steps,median_ms,min_ms,source\n" + "".join(
            f"{t},{p},{th},{b},{n},{m:.4f},{lo:.4f},{s}\n" for t, p, th, b, n, m, lo, s in rows)
        if a.csv == "-":
            sys.stdout.write(text)
        else:
            try:
                with open(a.csv, "w") as f:
                    f.write(text)
            except OSError as e:
                die(f"--csv {a.csv}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

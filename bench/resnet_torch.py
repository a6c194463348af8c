#!/usr/bin/python3
"""resnet_torch.py — trains a fovea model file's graph in PyTorch, the same network layer for
layer, with the same hyperparameters and data, and prints per epoch the time and the test
accuracy. bench/resnet.sh runs it beside `fovea train` for examples/resnet_fashion.fv.

usage: resnet_torch.py MODEL.fv --data DIR [--epochs N] [--seed S] [--threads T] [--limit N]
                       [--init WEIGHTS.safetensors] [--no-shuffle] [--json OUT]

--init and --no-shuffle make the same start as a fovea run (its initial weights, batches in the
data's order: `fovea train MODEL --epochs 0 --save W` then `fovea train W --no-shuffle`), so that
the two trajectories can be compared epoch by epoch (bench/resnet.py --same-start).

The network is built from the model file itself (one source of truth), for the layers a ResNet
uses: conv2d (Keras' asymmetric 'same' padding written out with F.pad), batch_normalization,
relu, add, global_average_pooling2d, dense (softmax folded into the loss); a detector's yolo head
is the identity (bench/detect_torch.py adds its loss). Keras' conventions:
  * BatchNormalization as Keras 3: momentum 0.99 (torch's momentum = 1 − 0.99), epsilon 0.001,
    the moving variance updated with the *biased* batch variance (torch.nn.BatchNorm2d updates
    with the unbiased one), so it is written out here;
  * glorot_uniform kernels (fans with the receptive field), zero biases, gamma 1, beta 0;
  * Adam(lr, beta_1 0.9, beta_2 0.999, eps 1e-7), categorical cross-entropy, batch_size from the
    fit line; the compile line's schedule=cosine_decay (decay_steps, alpha) as Keras' CosineDecay
    and fovea's fv__optim_lr_at: the update at step s (0 for the first) uses
    lr·((1 − alpha)·½(1 + cos(π·min(s, decay_steps)/decay_steps)) + alpha); the training set reshuffled every epoch, the test set as validation data.
Images stay NHWC uint8 until one conversion to NCHW float in [0, 1] before the clock starts.
The epoch time counts the training steps and the validation pass, as fovea's and Keras' do.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import NAMES, cpu_name, read_idx  # noqa: E402


def parse(path):
    layers, comp, fit, last = [], {}, {}, None
    with open(path) as f:
        for line in f:
            tok = line.split("#")[0].split()
            if not tok:
                continue
            kind, args = tok[0], dict(t.split("=", 1) for t in tok[1:])
            if kind == "compile":
                comp = args
            elif kind == "fit":
                fit = args
            elif kind == "input":
                shape = [int(v) for v in args["shape"].split(",")]
                last = args.get("name", "input_layer")
            else:
                name = args.pop("name", "%s_%d" % (kind, len(layers)))
                ins = args.pop("inputs").split(",") if "inputs" in args else [last]
                layers.append(dict(kind=kind, name=name, args=args, inputs=ins))
                last = name
    return shape, layers, comp, fit


def schedule(comp):
    """The learning rate of the update at step s (0-based), from the compile line."""
    import math

    lr, kind = float(comp.get("learning_rate", 0.001)), comp.get("schedule", "none")
    if kind == "none":
        return lambda s: lr
    if kind != "cosine_decay" or "warmup_target" in comp:
        sys.exit("resnet_torch.py: schedule=%s: only cosine_decay without warmup is written" % kind)
    d, alpha = int(comp["decay_steps"]), float(comp.get("alpha", 0.0))
    return lambda s: lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(s, d) / d)) + alpha)


def pair(v):
    p = [int(x) for x in v.split(",")]
    return p * 2 if len(p) == 1 else p


def build(torch, shape, layers):
    nn, F = torch.nn, torch.nn.functional

    class KerasBatchNorm(nn.Module):
        def __init__(self, c, momentum, eps):
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(c))
            self.beta = nn.Parameter(torch.zeros(c))
            self.register_buffer("mean", torch.zeros(c))
            self.register_buffer("var", torch.ones(c))
            self.momentum, self.eps = momentum, eps

        def forward(self, x):  # NCHW
            if self.training:
                mean = x.mean((0, 2, 3))
                var = x.var((0, 2, 3), unbiased=False)
                with torch.no_grad():
                    self.mean.mul_(self.momentum).add_(mean.detach() * (1 - self.momentum))
                    self.var.mul_(self.momentum).add_(var.detach() * (1 - self.momentum))
            else:
                mean, var = self.mean, self.var
            inv = torch.rsqrt(var + self.eps) * self.gamma
            return (x - mean[None, :, None, None]) * inv[None, :, None, None] + self.beta[
                None, :, None, None
            ]

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.mods = nn.ModuleDict()
            channels = {"input_layer": shape[-1]}
            for L in layers:
                k, a, name = L["kind"], L["args"], L["name"]
                c_in = channels[L["inputs"][0]]
                if k == "conv2d":
                    f = int(a["filters"])
                    conv = nn.Conv2d(c_in, f, pair(a["kernel_size"]), stride=pair(a.get("strides", "1")),
                                     bias=a.get("use_bias", "true") == "true")
                    nn.init.xavier_uniform_(conv.weight)
                    if conv.bias is not None:
                        nn.init.zeros_(conv.bias)
                    self.mods[name] = conv
                    channels[name] = f
                elif k == "batch_normalization":
                    self.mods[name] = KerasBatchNorm(c_in, float(a.get("momentum", 0.99)),
                                                     float(a.get("epsilon", 0.001)))
                    channels[name] = c_in
                elif k == "dense":
                    lin = nn.Linear(c_in, int(a["units"]))
                    nn.init.xavier_uniform_(lin.weight)
                    nn.init.zeros_(lin.bias)
                    self.mods[name] = lin
                    channels[name] = int(a["units"])
                elif k in ("relu", "add", "global_average_pooling2d", "yolo"):
                    channels[name] = c_in
                else:
                    raise SystemExit("resnet_torch: no torch form for layer kind '%s'" % k)

        def forward(self, x):
            T = {"input_layer": x}
            for L in layers:
                k, a, name = L["kind"], L["args"], L["name"]
                h = [T[i] for i in L["inputs"]]
                if k == "conv2d":
                    conv = self.mods[name]
                    x0 = h[0]
                    if a.get("padding", "valid") == "same":
                        pads = []
                        for size, s, kk in zip(x0.shape[2:], conv.stride, conv.kernel_size):
                            out = -(-size // s)
                            total = max((out - 1) * s + kk - size, 0)
                            pads.append((total // 2, total - total // 2))
                        x0 = F.pad(x0, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
                    y = conv(x0)
                elif k == "batch_normalization":
                    y = self.mods[name](h[0])
                elif k == "relu":
                    y = torch.relu(h[0])
                elif k == "add":
                    y = sum(h[1:], h[0])
                elif k == "global_average_pooling2d":
                    y = h[0].mean((2, 3))
                elif k == "yolo":  # the head: the identity on the raw grid (its loss is the caller's)
                    y = h[0]
                else:  # dense: logits; softmax is in the loss
                    y = self.mods[name](h[0])
                T[name] = y
            return T[layers[-1]["name"]]

    return Graph()


def load_init(torch, model, layers, path):
    """Copies a fovea weights file (safetensors, Keras' layouts) into the torch model: conv
    kernels (kh, kw, in, out) -> (out, in, kh, kw), dense (in, out) -> (out, in), biases and
    BatchNormalization's four tensors as they are."""
    import struct

    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    T = {k: np.frombuffer(raw[8 + n + d["data_offsets"][0] : 8 + n + d["data_offsets"][1]],
                          dtype="<f4").reshape(d["shape"]) for k, d in header.items()}
    with torch.no_grad():
        for L in layers:
            name, kind = L["name"], L["kind"]
            if name not in model.mods:
                continue
            m = model.mods[name]
            if kind == "conv2d":
                m.weight.copy_(torch.from_numpy(T[name + ".kernel"].transpose(3, 2, 0, 1).copy()))
            elif kind == "dense":
                m.weight.copy_(torch.from_numpy(T[name + ".kernel"].T.copy()))
            elif kind == "batch_normalization":
                for ours, theirs in (("gamma", "gamma"), ("beta", "beta"),
                                     ("moving_mean", "mean"), ("moving_variance", "var")):
                    getattr(m, theirs).copy_(torch.from_numpy(T[name + "." + ours].copy()))
                continue
            if getattr(m, "bias", None) is not None:
                m.bias.copy_(torch.from_numpy(T[name + ".bias"].copy()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--limit", type=int, default=0, help="use the first N training and test images")
    ap.add_argument("--json")
    ap.add_argument("--init", help="start from these weights (fovea's safetensors)")
    ap.add_argument("--no-shuffle", action="store_true", help="batches in the data's order")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    shape, layers, comp, fit = parse(args.model)
    epochs = args.epochs or int(fit.get("epochs", 1))
    batch = int(fit.get("batch_size", 32))
    tx, ty = read_idx(args.data, NAMES["train_x"]), read_idx(args.data, NAMES["train_y"])
    vx, vy = read_idx(args.data, NAMES["test_x"]), read_idx(args.data, NAMES["test_y"])
    if args.limit:
        tx, ty, vx, vy = tx[: args.limit], ty[: args.limit], vx[: args.limit], vy[: args.limit]

    def to_nchw(a):
        a = a.reshape(a.shape[0], a.shape[1], a.shape[2], -1)
        return torch.from_numpy(a.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()

    X, Y = to_nchw(tx), torch.from_numpy(ty.astype(np.int64))
    VX, VY = to_nchw(vx), torch.from_numpy(vy.astype(np.int64))
    model = build(torch, shape, layers)
    if args.init:
        load_init(torch, model, layers, args.init)
    opt = torch.optim.Adam(model.parameters(), lr=float(comp.get("learning_rate", 0.001)),
                           betas=(0.9, 0.999), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    lr_at = schedule(comp)
    step = 0
    gen = torch.Generator().manual_seed(args.seed)
    rows = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.arange(X.shape[0]) if args.no_shuffle else torch.randperm(X.shape[0], generator=gen)
        for i in range(0, X.shape[0], batch):
            idx = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.step()
            step += 1
        t_train = time.perf_counter() - t0
        model.eval()
        correct, vloss = 0, 0.0
        with torch.no_grad():
            for i in range(0, VX.shape[0], batch):
                out = model(VX[i : i + batch])
                vloss += loss_fn(out, VY[i : i + batch]).item() * out.shape[0]
                correct += (out.argmax(1) == VY[i : i + batch]).sum().item()
        t_epoch = time.perf_counter() - t0
        rows.append(dict(epoch=epoch + 1, seconds=t_epoch, train_seconds=t_train,
                         val_loss=vloss / VX.shape[0], val_accuracy=correct / VX.shape[0]))
        print("torch epoch %d/%d - %.1fs - val_loss: %.4f - val_accuracy: %.4f"
              % (epoch + 1, epochs, t_epoch, rows[-1]["val_loss"], rows[-1]["val_accuracy"]),
              flush=True)
    result = dict(cpu=cpu_name(), threads=args.threads, torch=torch.__version__, seed=args.seed,
                  epochs=rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

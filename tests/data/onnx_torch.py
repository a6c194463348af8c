"""onnx_torch.py — trains a tiny CNN in PyTorch on the 8x8 images of tests/data/quad (seeded, a
second on a CPU), exports it with torch.onnx.export (NCHW, dynamic batch) and writes PyTorch's
outputs for the test images, for tests/cli_onnx_import.sh.

usage: onnx_torch.py DATA_DIR OUT_DIR OPSET [view]
(view: flatten with x.view(x.size(0), -1), which exports a Shape-Gather-Unsqueeze-Concat-Reshape
chain, instead of nn.Flatten, which exports Flatten)
writes OUT_DIR/torch.onnx, OUT_DIR/x.npy (the test images, NHWC, /255) and OUT_DIR/torch.npy
(PyTorch's softmax outputs in eval mode); prints PyTorch's test accuracy.
"""
import struct
import sys

import numpy as np
import torch
from torch import nn


def idx(path):
    b = open(path, "rb").read()
    rank = b[3]
    dims = struct.unpack(">" + "I" * rank, b[4:4 + 4 * rank])
    return np.frombuffer(b, np.uint8, offset=4 + 4 * rank).reshape(dims)


def main():
    data, out, opset = sys.argv[1], sys.argv[2], int(sys.argv[3])
    view = len(sys.argv) > 4 and sys.argv[4] == "view"
    import gzip
    xtr = np.frombuffer(gzip.open(f"{data}/train-images-idx3-ubyte.gz").read(), np.uint8,
                        offset=16).reshape(-1, 8, 8)
    ytr = idx(f"{data}/train-labels-idx1-ubyte")
    xte = idx(f"{data}/t10k-images-idx3-ubyte")
    yte = idx(f"{data}/t10k-labels-idx1-ubyte")
    torch.manual_seed(14)
    torch.set_num_threads(1)
    # Conv with padding 1 (Keras' same for 3x3, stride 1), BatchNorm after the ReLU (so that the
    # exporter does not fold it into the convolution), max pooling, a residual add, a flatten of
    # NCHW data before a linear layer, dropout, and the branch below joined by a Concat.
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(4, eps=1e-3)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.flat = (lambda x: x.view(x.size(0), -1)) if view else nn.Flatten()
            self.fc1 = nn.Linear(4 * 4 * 4, 16)
            self.drop = nn.Dropout(0.25)
            # a branch: a depthwise convolution with stride 2 and padding 1 (pads Keras' same
            # cannot express: a zero_padding2d before it), average pooling that counts its
            # padding (PyTorch's default; exported as Pad + AveragePool), global average pooling
            self.dw = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4)
            self.ap = nn.AvgPool2d(3, stride=1, padding=1)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc2 = nn.Linear(16 + 8, 4)

        def forward(self, x):
            x = self.pool(self.bn1(torch.relu(self.conv1(x))))
            x = x + torch.tanh(self.conv2(x))
            z = torch.flatten(self.gap(self.ap(torch.relu(self.dw(x)))), 1)
            x = self.drop(torch.relu(self.fc1(self.flat(x))))
            return self.fc2(torch.cat([x, z], 1))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    x = torch.tensor(xtr, dtype=torch.float32).unsqueeze(1) / 255
    y = torch.tensor(ytr.astype(np.int64))
    net.train()
    for epoch in range(3):
        for i in range(0, len(x), 16):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x[i:i + 16]), y[i:i + 16])
            loss.backward()
            opt.step()
    net.eval()
    net = nn.Sequential(net, nn.Softmax(dim=1))  # probabilities, as a Keras classifier gives
    xt = torch.tensor(xte, dtype=torch.float32).unsqueeze(1) / 255
    with torch.no_grad():
        pt = net(xt).numpy()
    torch.onnx.export(net, xt[:1], f"{out}/torch.onnx", opset_version=opset,
                      input_names=["image"], output_names=["probabilities"],
                      dynamic_axes={"image": {0: "N"}, "probabilities": {0: "N"}})
    np.save(f"{out}/x.npy", np.ascontiguousarray(xt.numpy().transpose(0, 2, 3, 1)))
    np.save(f"{out}/torch.npy", pt)
    print(f"PyTorch test accuracy: {float(np.mean(pt.argmax(1) == yte)):.6f}")


if __name__ == "__main__":
    main()

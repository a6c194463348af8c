"""onnx_torch_ops.py — small PyTorch models, one per pattern of operators that fovea's import reads
beyond the CNN of onnx_torch.py: ConvTranspose2d, Upsample (nearest and bilinear, by scale and by
size), slicing, a depthwise convolution followed by a 1x1 one, ZeroPad2d alone and before a
convolution, ReLU6, and view/reshape. Weights are PyTorch's seeded initialisation (untrained: the
import's arithmetic is what is checked); exported by torch.onnx.export for tests/cli_onnx_ops.sh.

usage: onnx_torch_ops.py OUT_DIR OPSET
writes, for each model NAME: OUT_DIR/NAME.onnx (NCHW input "image", dynamic batch),
OUT_DIR/NAME_x.npy (the inputs, NHWC as fovea takes them), OUT_DIR/NAME_x_nchw.npy (the same in
NCHW, for ONNX Runtime) and OUT_DIR/NAME_torch.npy (PyTorch's outputs; images leave the models
permuted to NHWC, a Transpose the import absorbs); prints the names, one a line.
"""
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def nhwc(x):
    return x.permute(0, 2, 3, 1)


class ConvTranspose(nn.Module):
    """padding=1 with output_padding=1 (PyTorch's usual doubling: a placement Keras' padding does
    not give, so a crop follows a valid conv2d_transpose), Keras' same (k=3, s=1, p=1), DCGAN's
    k=4, s=2, p=1 (Keras' same) and a dilated valid one."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 4, 3, padding=1)
        self.t1 = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.t2 = nn.ConvTranspose2d(3, 3, 3, stride=1, padding=1)
        self.t3 = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)
        self.t4 = nn.ConvTranspose2d(2, 2, 3, dilation=2, bias=False)
        with torch.no_grad():  # outputs near 1 rather than 0.03
            self.t4.weight *= 30

    def forward(self, x):
        x = torch.relu(self.t1(self.c(x)))
        return nhwc(self.t4(torch.tanh(self.t3(self.t2(x)))))


class Resize(nn.Module):
    """nn.Upsample nearest and bilinear (align_corners=False) by 2, F.interpolate nearest by
    (3, 2), and bilinear to a given size."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 3, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.bl = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x):
        x = self.c(x)
        y = self.up(x) + self.bl(x)
        y = F.interpolate(y, scale_factor=(3, 2), mode="nearest")
        return nhwc(F.interpolate(y, size=(60, 40), mode="bilinear", align_corners=False))


class Slice(nn.Module):
    """Crops by slicing the image axes, from both ends and from one."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 3, 3, padding=1)
        self.c2 = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        y = self.c(x)[:, :, 1:-1, 2:]
        return nhwc(self.c2(y)[:, :, :2, 1:])


class Separable(nn.Module):
    """A depthwise convolution without bias followed by a 1x1 convolution (Keras'
    SeparableConv2D), once with Keras' same pads and once with stride 2 and padding 2 (a
    zero_padding2d before a valid separable_conv2d)."""

    def __init__(self):
        super().__init__()
        self.dw1 = nn.Conv2d(2, 4, 3, padding=1, groups=2, bias=False)
        self.pw1 = nn.Conv2d(4, 5, 1)
        self.dw2 = nn.Conv2d(5, 5, 3, stride=2, padding=2, groups=5, bias=False)
        self.pw2 = nn.Conv2d(5, 3, 1, bias=False)

    def forward(self, x):
        x = torch.relu(self.pw1(self.dw1(x)))
        return nhwc(self.pw2(self.dw2(x)))


class ZeroPad(nn.Module):
    """ZeroPad2d alone (asymmetric), ReLU6 (its weights scaled so that it clips) and ZeroPad2d
    before a convolution."""

    def __init__(self):
        super().__init__()
        self.zp1 = nn.ZeroPad2d((1, 2, 0, 1))
        self.c1 = nn.Conv2d(2, 3, 1)
        with torch.no_grad():
            self.c1.weight *= 30
        self.relu6 = nn.ReLU6()
        self.zp2 = nn.ZeroPad2d(1)
        self.c2 = nn.Conv2d(3, 3, 3)

    def forward(self, x):
        x = self.relu6(self.c1(self.zp1(x)))
        return nhwc(self.c2(self.zp2(x)))


class Reshape(nn.Module):
    """A vector viewed as a one-channel image (x.view(-1, 1, 4, 4)) for a convolution, an NHWC
    image reshaped to (N, 16, 3) with its batch computed (x.size(0)), flattened, and a vector
    viewed as a one-pixel image for a 1x1 convolution."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2 * 5 * 5, 16)
        self.c1 = nn.Conv2d(1, 3, 3, padding=1)
        self.fc2 = nn.Linear(48, 8)
        self.c2 = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.c1(torch.relu(self.fc1(torch.flatten(x, 1))).view(-1, 1, 4, 4))
        x = nhwc(x).reshape(x.size(0), 16, 3)
        x = torch.relu(self.fc2(torch.flatten(x, 1))).view(-1, 8, 1, 1)
        return torch.softmax(torch.flatten(self.c2(x), 1), 1)


MODELS = {"convtranspose": ConvTranspose, "resize": Resize, "slice": Slice,
          "separable": Separable, "zeropad": ZeroPad, "reshape": Reshape}


def main():
    out, opset = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)
    for k, (name, cls) in enumerate(MODELS.items()):
        torch.manual_seed(14 + k)
        net = cls().eval()
        x = torch.rand(4, 2, 5, 5, generator=torch.Generator().manual_seed(k))
        with torch.no_grad():
            y = net(x).numpy()
        torch.onnx.export(net, x[:1], f"{out}/{name}.onnx", opset_version=opset,
                          input_names=["image"], output_names=["output"],
                          dynamic_axes={"image": {0: "N"}, "output": {0: "N"}})
        np.save(f"{out}/{name}_x.npy", np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1)))
        np.save(f"{out}/{name}_x_nchw.npy", x.numpy())
        np.save(f"{out}/{name}_torch.npy", y)
        print(name)


if __name__ == "__main__":
    main()

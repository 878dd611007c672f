"""The four networks of the model contract (docs/model_contract.md) in PyTorch (NCHW), for
cross-framework checks.

Written from the contract (docs and the engine's src/models/), not for speed: the relative
position logits are formed by explicit index gathers, the local window by a mask, so this file
is an independent second reading of the definitions. Names and shapes of every parameter match
the engine's, so a state dict moves between the two as a safetensors file.

    build(name, num_classes=26, size=(224, 224), attention="global", window=7,
          attention_stages=(4,), heads=4, width_mult=1.0, blocks=(3, 4, 6, 3))
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _conv(cin, cout, k, stride=1, pad=0):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, width, 1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = _conv(width, width, 3, stride, 1), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = _conv(width, 4 * width, 1), nn.BatchNorm2d(4 * width)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, y):
        shortcut = y if self.downsample is None else self.downsample(y)
        t = self.relu(self.bn1(self.conv1(y)))
        t = self.relu(self.bn2(self.conv2(t)))
        return self.relu(self.bn3(self.conv3(t)) + shortcut)


class RelPos(nn.Module):
    def __init__(self, rows_h, rows_w, d):
        super().__init__()
        self.rel_height = nn.Parameter(torch.randn(rows_h, d) * d ** -0.5)
        self.rel_width = nn.Parameter(torch.randn(rows_w, d) * d ** -0.5)


class MHSA(nn.Module):
    def __init__(self, c, h, w, heads, window):
        super().__init__()
        self.c, self.h, self.w, self.heads, self.window = c, h, w, heads, window
        self.d = c // heads
        self.qkv = _conv(c, 3 * c, 1)
        rows_h, rows_w = (window, window) if window else (2 * h - 1, 2 * w - 1)
        self.rel_pos = RelPos(rows_h, rows_w, self.d)

    def forward(self, t):
        B, C, H, W = t.shape
        n, d, N = self.heads, self.d, H * W
        qkv = self.qkv(t).reshape(B, 3, n, d, N)
        q = qkv[:, 0].transpose(-1, -2) / math.sqrt(d)       # [B, n, N, d]
        k = qkv[:, 1].transpose(-1, -2)                      # [B, n, N, d]
        v = qkv[:, 2].transpose(-1, -2)                      # [B, n, N, d]
        logits = q @ k.transpose(-1, -2)                     # [B, n, N, N]
        xs = torch.arange(H)[:, None].expand(H, W).reshape(-1)  # row of each position
        ys = torch.arange(W).repeat(H)                       # column of each position
        dx = xs[None, :] - xs[:, None]                       # [N, N]: x' - x
        dy = ys[None, :] - ys[:, None]                       # [N, N]: y' - y
        if self.window:
            r = (self.window - 1) // 2
            inside = (dx.abs() <= r) & (dy.abs() <= r)
            ih, iw = (dx + r).clamp(0, self.window - 1), (dy + r).clamp(0, self.window - 1)
        else:
            inside = torch.ones(N, N, dtype=torch.bool)
            ih, iw = dx + H - 1, dy + W - 1
        qh = q @ self.rel_pos.rel_height.t()                 # [B, n, N, rows_h]
        qw = q @ self.rel_pos.rel_width.t()                  # [B, n, N, rows_w]
        logits = logits + torch.gather(qh, 3, ih.expand(B, n, N, N)) \
                        + torch.gather(qw, 3, iw.expand(B, n, N, N))
        logits = logits.masked_fill(~inside, float("-inf"))
        p = torch.softmax(logits, dim=-1)
        out = p @ v                                           # [B, n, N, d]
        return out.transpose(-1, -2).reshape(B, C, H, W)


class AttnBottleneck(nn.Module):
    def __init__(self, cin, width, stride, downsample, branch, h, w, heads, window):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, width, 1), nn.BatchNorm2d(width)
        self.mhsa = MHSA(width, h, w, heads, window)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True) if stride == 2 else None
        self.branch = branch
        if branch == "conv3x3":
            self.conv_b, self.bn_b = _conv(width, width, 3, stride, 1), nn.BatchNorm2d(width)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = _conv(width, 4 * width, 1), nn.BatchNorm2d(4 * width)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, y):
        shortcut = y if self.downsample is None else self.downsample(y)
        t = self.relu(self.bn1(self.conv1(y)))
        a = self.mhsa(t)
        if self.pool is not None:
            a = self.pool(a)
        if self.branch == "identity":
            a = a + (self.pool(t) if self.pool is not None else t)
        elif self.branch == "conv3x3":
            a = a + self.bn_b(self.conv_b(t))
        return self.relu(self.bn3(self.conv3(self.relu(self.bn2(a)))) + shortcut)


BRANCH = {"botnet50": "none", "hsanet_x": "identity", "hsanet_3x3": "conv3x3"}


class ResNet(nn.Module):
    def __init__(self, name="resnet50", num_classes=26, size=(224, 224), attention="global",
                 window=7, attention_stages=(4,), heads=4, width_mult=1.0, blocks=(3, 4, 6, 3)):
        super().__init__()

        def scaled(w):
            v = max(heads, round(w * width_mult))
            return (v + heads - 1) // heads * heads

        stem = scaled(64)
        self.conv1, self.bn1 = _conv(3, stem, 7, 2, 3), nn.BatchNorm2d(stem)
        self.relu, self.maxpool = nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        h = _out(_out(size[0], 7, 2, 3), 3, 2, 1)
        w = _out(_out(size[1], 7, 2, 3), 3, 2, 1)
        cin = stem
        for stage, (base, nblocks) in enumerate(zip((64, 128, 256, 512), blocks)):
            width = scaled(base)
            attn = name != "resnet50" and (stage + 1) in attention_stages
            layers = []
            for b in range(nblocks):
                s = 2 if stage > 0 and b == 0 else 1
                down = None
                if b == 0 and (s != 1 or cin != 4 * width):
                    down = nn.Sequential(_conv(cin, 4 * width, 1, s), nn.BatchNorm2d(4 * width))
                if attn:
                    layers.append(AttnBottleneck(cin, width, s, down, BRANCH[name], h, w, heads,
                                                 window if attention == "local" else 0))
                else:
                    layers.append(Bottleneck(cin, width, s, down))
                if s == 2:
                    h, w = _out(h, 3, 2, 1), _out(w, 3, 2, 1)
                cin = 4 * width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(name, **kw):
    return ResNet(name, **kw)


def parameter_counts():
    """The contract's table: parameters at 26 classes, 224x224."""
    return {n: sum(p.numel() for p in build(n).parameters())
            for n in ("resnet50", "botnet50", "hsanet_x", "hsanet_3x3")}


if __name__ == "__main__":
    for name, n in parameter_counts().items():
        print(f"{name:<11} {n:>12,d}")

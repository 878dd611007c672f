"""Writes the bf16 golden files of tests/test_golden_bf16.cc: the first training step of each
tiny model of scripts/make_golden.py, in float64, with every convolution rounding what the
engine's bf16 mixed precision rounds (docs/precision.md): its input and its weight to bf16 in the
forward, and its output too where a batch norm reads it (every convolution but the attention's
qkv); the incoming gradient to bf16 in the backward (once, for both the input's and the
weight's gradient); and nothing else. Everything else -- batch norm, attention, the loss, the
sums inside each convolution -- is exact. The engine's bf16 step must then agree with this file
as closely as float32 rounding allows -- which for these tiny models is not very close. Rounding
to bf16 is discontinuous: a value near a rounding tie moves by 2^-8 of itself when a float32-sized
change pushes it across, and batch norm over as few as 16 values amplifies that. So the file also
holds the spread: how far the same float64 step moves when the weights and the input are
perturbed by float32-sized relative changes (1e-7, PERTURBATIONS draws), and the test allows the
engine twice that spread (tests/test_golden_bf16.cc).

    python3 scripts/make_golden_bf16.py [--golden tests/golden]

Reads each tests/golden/<case>.safetensors (its initial weights, input and labels) and writes
tests/golden/<case>.bf16.safetensors with, in F64: golden.logits, golden.losses (one step),
golden.input_grad and golden.grad.<name> for every parameter; and golden.spread.<that name>,
one value each: the largest distance over the perturbed steps (for the loss the absolute
difference, otherwise the relative Euclidean distance, a gradient's relative to the larger of its
norm and 1e-3 of the largest parameter-gradient norm).
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden  # noqa: E402
import torch_models  # noqa: E402
from export_torch_weights import read_header, write_safetensors  # noqa: E402


def read_tensors(path):
    """Every tensor of a safetensors file as a float64 (or int64) torch tensor."""
    header = read_header(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n)
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}[info["dtype"]]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(info["shape"])
        out[name] = t if dtype == torch.int64 else t.double()
    return out, json.loads(header["__metadata__"]["options"])


def to_bf16(t):
    """The engine's rounding: the float32 value, rounded to nearest-even bf16, as float64."""
    return t.float().to(torch.bfloat16).double()


class Bf16Conv(torch.autograd.Function):
    """conv2d on bf16-rounded input and weight, its output rounded too with round_output; the
    gradient rounded once on its way back (the output's rounding passes it through)."""

    @staticmethod
    def forward(ctx, x, w, stride, padding, dilation, groups, round_output):
        xr, wr = to_bf16(x), to_bf16(w)
        ctx.save_for_backward(xr, wr)
        ctx.conf = (stride, padding, dilation, groups)
        y = F.conv2d(xr, wr, None, stride, padding, dilation, groups)
        return to_bf16(y) if round_output else y

    @staticmethod
    def backward(ctx, gy):
        xr, wr = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        gyr = to_bf16(gy)
        gx = torch.nn.grad.conv2d_input(xr.shape, wr, gyr, stride, padding, dilation, groups)
        gw = torch.nn.grad.conv2d_weight(xr, wr.shape, gyr, stride, padding, dilation, groups)
        return gx, gw, None, None, None, None, None


def bf16_convolutions(model):
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            assert m.bias is None, "the contract's convolutions have no bias"
            to_bn = not name.endswith("qkv")  # the engine's Conv2dOptions::bf16_output
            m.forward = (lambda conv, r: lambda x: Bf16Conv.apply(
                x, conv.weight, conv.stride, conv.padding, conv.dilation, conv.groups, r))(m, to_bn)


PERTURBATIONS, PERTURBATION = 32, 1e-7
# The cases whose bf16 step is well enough conditioned to be compared. tiny_botnet_local's is not:
# float32-sized perturbations move all its gradients by 20-40 % (its spread), so agreeing with
# it within twice that would tell a right bf16 step from a wrong one no better than chance.
CASES = ["tiny_hsanet_3x3", "tiny_hsanet_x"]


def step(tensors, build, rng=None):
    """One bf16-rounding float64 step: {name: value} for the loss, logits and every gradient.
    With rng: the weights and the input first multiplied by 1 + 1e-7 * N(0, 1), elementwise."""
    model = torch_models.build(**build).double().train()
    state = {k: v for k, v in tensors.items() if not k.startswith("golden.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("num_batches" in k for k in missing), (missing, unexpected)
    x = tensors["golden.input"].clone()
    if rng is not None:
        with torch.no_grad():
            for t in list(model.parameters()) + [x]:
                t.mul_(1 + PERTURBATION * torch.randn(t.shape, generator=rng, dtype=t.dtype))
    bf16_convolutions(model)
    x.requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, tensors["golden.labels"])
    loss.backward()
    out = {"golden.losses": torch.tensor([loss.item()], dtype=torch.float64),
           "golden.logits": logits.detach(), "golden.input_grad": x.grad.detach()}
    out.update({f"golden.grad.{n}": p.grad.detach() for n, p in model.named_parameters()})
    return out


def distances(a, b):
    """The test's measures between two steps (see the module's docstring)."""
    largest = max(v.norm().item() for k, v in b.items() if k.startswith("golden.grad."))
    out = {}
    for k, ref in b.items():
        diff = (a[k] - ref).norm().item()
        if k == "golden.losses":
            out[k] = diff
        elif k.startswith("golden.grad."):
            out[k] = diff / max(ref.norm().item(), 1e-3 * largest)
        else:
            out[k] = diff / ref.norm().item()
    return out


def make(case, golden_dir):
    source = os.path.join(golden_dir, case + ".safetensors")
    tensors, opts = read_tensors(source)
    build = {k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()}
    reference = step(tensors, build)
    rng = torch.Generator().manual_seed(1)
    spread = {k: 0.0 for k in reference}
    for _ in range(PERTURBATIONS):
        for k, d in distances(step(tensors, build, rng), reference).items():
            spread[k] = max(spread[k], d)
    e = make_golden.entry
    entries = [e(k, v, "F64") for k, v in reference.items()]
    entries += [e("golden.spread." + k[len("golden."):], torch.tensor([v], dtype=torch.float64), "F64")
                for k, v in spread.items()]
    loss = reference["golden.losses"][0]
    path = os.path.join(golden_dir, case + ".bf16.safetensors")
    write_safetensors(path, entries, {"options": json.dumps(opts), "source": case + ".safetensors"})
    print(f"{path}: loss {loss.item():.6f}; spread: loss {spread['golden.losses']:.2e}, "
          f"logits {spread['golden.logits']:.2e}, input gradient {spread['golden.input_grad']:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--golden", default=os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for case in CASES:
        make(case, args.golden)


if __name__ == "__main__":
    main()

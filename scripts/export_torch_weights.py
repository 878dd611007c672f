#!/usr/bin/env python3
"""Export PyTorch weights to a safetensors file that hsanet loads.

No `safetensors` package is needed: the format is an 8-byte little-endian header length, a JSON
header, and the raw little-endian tensor bytes, which `struct` and `json` write directly.
Floating-point tensors are written as F32 (the engine computes in float32); integer buffers such
as BatchNorm's num_batches_tracked as I64. Names and shapes are PyTorch's (OIHW convolutions),
which are the names docs/safetensors.md and the model spec use.

Sources (exactly one):
  export_torch_weights.py weights.pth -o out.safetensors
      a state dict saved with torch.save (also a checkpoint dict holding one under "state_dict"
      or "model", or a whole pickled nn.Module with --unsafe-pickle)
  export_torch_weights.py --torchvision resnet50 [--pretrained | --weights IMAGENET1K_V1] -o resnet50.safetensors
      torchvision's model (pretrained weights need torchvision's download to work)
  export_torch_weights.py --torchvision resnet50 resnet50-0676ba61.pth -o resnet50.safetensors
      a torchvision state dict already on disk (e.g. from torch.hub's cache); its names and
      shapes are checked against torchvision's resnet50 before anything is written

With --torchvision resnet50 the file loads into all four hsanet models with cpu_train
--init-from (docs/finetuning.md): every backbone tensor has torchvision's name and shape, and
the 1000-class fc.* is skipped there because the class count differs (--drop-head leaves it
out of the file instead).
  export_torch_weights.py --module torch_models:hsanet_x --module-dir DIR -o hsanet_x.safetensors
      any importable factory returning an nn.Module, e.g. the PyTorch versions of the four models

Only the writer (write_safetensors) and the reader (read_header) are needed without torch; the
rest imports torch when it runs.
"""
import argparse
import array
import importlib
import json
import os
import struct
import sys

# dtype name -> bytes per element: the dtypes the format defines and hsanet's reader knows.
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}


def _num_elements(shape):
    n = 1
    for d in shape:
        if not isinstance(d, int) or d < 0:
            raise ValueError(f"shape {shape} is not a list of non-negative integers")
        n *= d
    return n


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors`, a list of (name, dtype, shape, raw little-endian bytes), to `path`.

    The file is first written to path.tmp.<pid>, synced, then renamed over `path`, so an
    interrupted export never leaves a torn file where a good one was.
    """
    header = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape, data in tensors:
        if name == "__metadata__" or name in header:
            raise ValueError(f"tensor name {name!r} is reserved or appears twice")
        if dtype not in DTYPE_SIZES:
            raise ValueError(f"tensor {name!r}: unknown dtype {dtype!r}")
        need = _num_elements(shape) * DTYPE_SIZES[dtype]
        if len(data) != need:
            raise ValueError(f"tensor {name!r}: {len(data)} bytes, shape {list(shape)} of "
                             f"{dtype} needs {need}")
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)  # data section 8-byte aligned, as the C++ writer does
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, _, _, data in tensors:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_header(path):
    """The JSON header of a safetensors file, as a dict (for checking an export)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", raw)
        size = os.fstat(f.fileno()).st_size
        if n == 0 or n > min(size - 8, 100 << 20):
            raise ValueError(f"{path}: header length {n} is not within the {size}-byte file")
        return json.loads(f.read(n).decode("utf-8"))


def floats_to_bytes(values):
    """A flat list of floats as little-endian F32 bytes, without numpy."""
    a = array.array("f", values)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def ints_to_bytes(values):
    """A flat list of ints as little-endian I64 bytes, without numpy."""
    a = array.array("q", values)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


# ---------------------------------------------------------------- torch side

def tensor_entry(name, t):
    """(name, dtype, shape, bytes) for one torch tensor: floats as F32, integers and bools as I64."""
    import torch

    t = t.detach().cpu().contiguous()
    shape = list(t.shape)
    if t.is_floating_point():
        t = t.to(torch.float32)
        dtype = "F32"
    elif not t.is_complex():  # integer buffers and bool masks
        t = t.to(torch.int64)
        dtype = "I64"
    else:
        raise ValueError(f"tensor {name!r}: cannot export dtype {t.dtype}")
    try:  # numpy's buffer is the fast path; torch usually ships with numpy
        data = t.numpy().astype("<" + ("f4" if dtype == "F32" else "i8"), copy=False).tobytes()
    except (ImportError, RuntimeError):
        flat = t.reshape(-1).tolist()
        data = floats_to_bytes(flat) if dtype == "F32" else ints_to_bytes(flat)
    return name, dtype, shape, data


def strip_common_prefix(state, prefix="module."):
    """DataParallel and DistributedDataParallel save every name under "module."."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state_dict_from_file(path, unsafe_pickle):
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=not unsafe_pickle)
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        return obj
    raise ValueError(f"{path}: holds a {type(obj).__name__}, not a state dict")


def model_from_torchvision(arch, pretrained, num_classes, weights=None):
    import torchvision

    factory = getattr(torchvision.models, arch)
    kwargs = {"weights": weights or "DEFAULT"} if (pretrained or weights) else {}
    model = factory(**kwargs)
    if num_classes is not None and num_classes != model.fc.out_features:
        import torch
        model.fc = torch.nn.Linear(model.fc.in_features, num_classes)
    return model


def torchvision_resnet50_shapes(num_classes=1000):
    """torchvision's resnet50 state dict as {name: shape}, written out by hand (no torch needed).

    BatchNorm's num_batches_tracked is a 0-d integer; everything else is float.
    """
    shapes = {"conv1.weight": [64, 3, 7, 7]}

    def bn(prefix, c):
        for k in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{k}"] = [c]
        shapes[f"{prefix}.num_batches_tracked"] = []

    bn("bn1", 64)
    inplanes = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for i in range(blocks):
            p = f"layer{layer}.{i}."
            shapes[p + "conv1.weight"] = [width, inplanes, 1, 1]
            bn(p + "bn1", width)
            shapes[p + "conv2.weight"] = [width, width, 3, 3]
            bn(p + "bn2", width)
            shapes[p + "conv3.weight"] = [4 * width, width, 1, 1]
            bn(p + "bn3", 4 * width)
            if i == 0:
                shapes[p + "downsample.0.weight"] = [4 * width, inplanes, 1, 1]
                bn(p + "downsample.1", 4 * width)
            inplanes = 4 * width
    shapes["fc.weight"] = [num_classes, 2048]
    shapes["fc.bias"] = [num_classes]
    return shapes


def torchvision_export(entries, arch, drop_head):
    """The entries of a torchvision state dict, checked and ready to write.

    entries: (name, dtype, shape, bytes) as tensor_entry makes them. For resnet50 every name and
    shape must be torchvision's (the head may have any class count); a mismatch raises
    ValueError listing all of it, since hsanet would otherwise start those tensors fresh without
    the user noticing. drop_head leaves fc.* out.
    """
    if arch == "resnet50":
        want = torchvision_resnet50_shapes()
        have = {name: list(shape) for name, _, shape, _ in entries}
        problems = [f"missing: {n}" for n in want if n not in have]
        problems += [f"not in torchvision's resnet50: {n}" for n in have if n not in want]
        problems += [f"shape of {n}: {have[n]}, torchvision has {want[n]}" for n in want
                     if n in have and have[n] != want[n] and not n.startswith("fc.")]
        if problems:
            raise ValueError("not a torchvision resnet50 state dict:\n  " + "\n  ".join(problems[:20]) +
                             (f"\n  ... {len(problems) - 20} more" if len(problems) > 20 else ""))
    if drop_head:
        entries = [e for e in entries if not e[0].startswith("fc.")]
    return entries


def model_from_module(spec, module_dir):
    if ":" not in spec:
        raise ValueError(f"--module wants MODULE:FACTORY, got {spec!r}")
    module_name, factory_name = spec.split(":", 1)
    if module_dir:
        sys.path.insert(0, module_dir)
    module = importlib.import_module(module_name)
    return getattr(module, factory_name)()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", nargs="?",
                   help="a .pt/.pth file saved with torch.save (with --torchvision: that model's state dict)")
    p.add_argument("--torchvision", metavar="ARCH",
                   help="a torchvision model, e.g. resnet50; with a checkpoint, its names are checked")
    p.add_argument("--module", metavar="MODULE:FACTORY",
                   help="an importable factory returning an nn.Module")
    p.add_argument("--module-dir", help="directory to put on sys.path for --module")
    p.add_argument("--pretrained", action="store_true", help="torchvision's default weights")
    p.add_argument("--weights", metavar="NAME",
                   help="torchvision's weights by name, e.g. IMAGENET1K_V1 (downloaded by torchvision)")
    p.add_argument("--drop-head", action="store_true",
                   help="with --torchvision: leave fc.* out of the file (a fine-tuning run creates its own)")
    p.add_argument("--num-classes", type=int,
                   help="replace a torchvision model's fc head with this many classes")
    p.add_argument("--unsafe-pickle", action="store_true",
                   help="allow torch.load to unpickle arbitrary objects (trusted files only)")
    p.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    args = p.parse_args(argv)
    if (args.module is not None) + (args.torchvision is not None or args.checkpoint is not None) != 1:
        p.error("give one source: a checkpoint, --torchvision ARCH (optionally with its checkpoint), "
                "or --module")
    if args.checkpoint and (args.pretrained or args.weights):
        p.error("--pretrained and --weights download torchvision's weights; a checkpoint file has its own")

    if args.checkpoint:
        state = load_state_dict_from_file(args.checkpoint, args.unsafe_pickle)
        origin = os.path.basename(args.checkpoint)
        if args.torchvision:
            origin = f"torchvision.{args.torchvision} ({origin})"
    elif args.torchvision:
        state = model_from_torchvision(args.torchvision, args.pretrained,
                                       args.num_classes, args.weights).state_dict()
        named = args.weights or ("DEFAULT" if args.pretrained else "")
        origin = "torchvision." + args.torchvision + (f" ({named})" if named else "")
    else:
        state = model_from_module(args.module, args.module_dir).state_dict()
        origin = args.module
    state = strip_common_prefix(state)

    entries = [tensor_entry(name, t) for name, t in state.items()]
    if args.torchvision:
        entries = torchvision_export(entries, args.torchvision, args.drop_head)
    write_safetensors(args.output, entries, {"format": "pt", "source": origin})
    n_params = sum(len(e[3]) // 4 for e in entries if e[1] == "F32")
    print(f"wrote {args.output}: {len(entries)} tensors, {n_params:,} float values")


if __name__ == "__main__":
    main()

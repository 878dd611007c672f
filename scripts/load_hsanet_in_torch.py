#!/usr/bin/env python3
"""Load an hsanet checkpoint into the PyTorch definition of its model (scripts/torch_models.py).

The checkpoint written by cpu_train is a safetensors file whose model tensors carry PyTorch's
names and shapes, and whose metadata names the model and its options ("model_config") and the
identities ("classes"). This script builds the matching torch_models.ResNet, loads the tensors
strictly (the optimiser's "optimizer.*" entries and the second copy of the weights that a run
with --ema keeps, "ema.*" or "raw.*", are skipped), and prints what it loaded.

    load_hsanet_in_torch.py RUN/best.safetensors
    load_hsanet_in_torch.py RUN/best.safetensors --onnx model.onnx
    load_hsanet_in_torch.py RUN/best.safetensors --input x.safetensors --logits-out y.safetensors

The model takes NCHW float32 pictures prepared as hsanet's evaluation transform prepares them:
pixels / 255, minus the ImageNet mean, over its standard deviation, at the checkpoint's input
size. --input reads such a batch (tensor "input" [N, 3, H, W], the layout `hsanet run` reads) and
--logits-out writes the model's logits (eval mode) for it, to compare with hsanet's.
"""
import argparse
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from export_torch_weights import read_header, tensor_entry, write_safetensors  # noqa: E402

_TORCH_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
                 "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
                 "BOOL": "bool"}


def read_safetensors(path):
    """(tensors by name, metadata) of a safetensors file, as torch tensors."""
    import torch

    header = read_header(path)
    metadata = header.pop("__metadata__", {}) or {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        data = f.read()[n:]
    tensors = {}
    for name, entry in header.items():
        dtype = entry.get("dtype")
        if dtype not in _TORCH_DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {dtype!r}, which this script does not read")
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: tensor {name!r} lies outside the file")
        raw = bytearray(data[begin:end])  # a writable copy: torch.frombuffer shares the memory
        t = torch.frombuffer(raw, dtype=getattr(torch, _TORCH_DTYPES[dtype])) if raw else \
            torch.empty(0, dtype=getattr(torch, _TORCH_DTYPES[dtype]))
        tensors[name] = t.reshape(entry["shape"])
    return tensors, metadata


def model_from_metadata(path, metadata):
    """The torch_models.ResNet that the checkpoint's model_config describes."""
    import torch_models

    if "model_config" not in metadata:
        raise ValueError(f"{path}: no 'model_config' in the metadata; this loads checkpoints written by "
                         "cpu_train (plain weights do not say which model they belong to)")
    mc = json.loads(metadata["model_config"])
    return mc, torch_models.build(
        mc["name"], num_classes=mc["num_classes"], size=(mc["height"], mc["width"]),
        attention=mc["attention"], window=mc["window"], attention_stages=tuple(mc["attention_stages"]),
        heads=mc["heads"], width_mult=mc["width_mult"], blocks=tuple(mc["blocks"]))


def load(path):
    """(model in eval mode, model_config, classes, metadata); raises ValueError on any mismatch."""
    tensors, metadata = read_safetensors(path)
    mc, model = model_from_metadata(path, metadata)
    side = ("optimizer.", "ema.", "raw.")
    state = {k: v for k, v in tensors.items() if not k.startswith(side)}
    expected = model.state_dict()
    # hsanet keeps no BatchNorm step counter; PyTorch's is unused at eval and stays as built.
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape))
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors missing (first: {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} tensors the model does not have (first: {unexpected[0]})")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} shapes differ (first: {k}: file {list(state[k].shape)}, "
                        f"model {list(expected[k].shape)})")
    if problems:
        raise ValueError(f"{path}: does not fit {mc['name']}: " + "; ".join(problems))
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)
    model.eval()
    classes = json.loads(metadata["classes"]) if "classes" in metadata else []
    return model, mc, classes, metadata, len(state)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="a cpu_train checkpoint (RUN/best.safetensors or RUN/last.safetensors)")
    p.add_argument("--onnx", metavar="OUT.onnx", help="also export the model through torch.onnx "
                   "(input 'input' [N, 3, H, W], output 'logits'; the batch size is free)")
    p.add_argument("--input", metavar="X.safetensors", help="a batch to run: tensor 'input' [N, 3, H, W]")
    p.add_argument("--logits-out", metavar="Y.safetensors", help="with --input: write the logits here")
    args = p.parse_args(argv)
    if args.logits_out and not args.input:
        p.error("--logits-out needs --input")
    try:
        import torch
    except ImportError:
        print("load_hsanet_in_torch.py: error: PyTorch is not installed (pip install torch, or "
              "apt-get install python3-torch)", file=sys.stderr)
        return 2
    try:
        model, mc, classes, metadata, n = load(args.checkpoint)
    except (OSError, ValueError, KeyError) as e:
        print(f"load_hsanet_in_torch.py: error: {e}", file=sys.stderr)
        return 1
    params = sum(t.numel() for t in model.parameters())
    print(f"{args.checkpoint}: {mc['name']} ({mc['num_classes']} classes, {mc['height']}x{mc['width']}, "
          f"width x{mc['width_mult']:g}, blocks {mc['blocks']}); loaded {n} tensors, {params:,d} parameters")
    if classes:
        shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
        print(f"identities: {shown}")
    if "epoch" in metadata:
        print(f"trained {metadata['epoch']} epochs; best validation accuracy {metadata.get('best_val_acc', '?')}")

    if args.input:
        tensors, _ = read_safetensors(args.input)
        if "input" not in tensors or tensors["input"].dim() != 4 or tensors["input"].shape[1] != 3:
            print(f"load_hsanet_in_torch.py: error: {args.input}: needs tensor 'input' [N, 3, H, W]",
                  file=sys.stderr)
            return 1
        with torch.no_grad():
            logits = model(tensors["input"].to(torch.float32))
        print(f"logits {list(logits.shape)} for {args.input}")
        if args.logits_out:
            write_safetensors(args.logits_out, [tensor_entry("logits", logits)], {"model": mc["name"]})
            print(f"wrote {args.logits_out}")
    if args.onnx:
        dummy = torch.zeros(1, 3, mc["height"], mc["width"])
        torch.onnx.export(model, dummy, args.onnx, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
        print(f"wrote {args.onnx} (ONNX opset 13)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

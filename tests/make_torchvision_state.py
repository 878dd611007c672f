#!/usr/bin/env python3
"""Writes a synthetic torchvision resnet50 export for the --init-from tests: no download.

usage: make_torchvision_state.py SCRIPTS_DIR WORK_DIR OUT.safetensors

With torch: a state dict with torchvision's names and shapes and random values (from
torchvision.models.resnet50(weights=None) when torchvision imports, else torch.randn over the
hand-written table) is saved with torch.save and converted by
`export_torch_weights.py --torchvision resnet50 FILE.pth`, the user's path. Without torch: the
same table is filled with a distinct pattern per tensor and goes through the script's
torchvision_export check and writer. The first line printed says which.
"""
import array
import os
import sys


def pattern_bytes(index, count):
    """count float32 values, little-endian, distinct per tensor `index` (a cheap fill, not random)."""
    period = 251
    base = array.array("f", [((i * 37 + index * 11) % period) / period - 0.5 for i in range(period)])
    if sys.byteorder != "little":
        base.byteswap()
    raw = base.tobytes() * (count // period + 1)
    return raw[: 4 * count]


def main():
    scripts, work, out = sys.argv[1:4]
    sys.path.insert(0, scripts)
    import export_torch_weights as ex

    table = ex.torchvision_resnet50_shapes()
    try:
        import torch
    except ImportError:
        print("mode: no torch; the hand-written table through torchvision_export")
        entries = []
        for k, (name, shape) in enumerate(table.items()):
            if name.endswith("num_batches_tracked"):
                entries.append((name, "I64", shape, ex.ints_to_bytes([0])))
            else:
                n = 1
                for d in shape:
                    n *= d
                entries.append((name, "F32", shape, pattern_bytes(k, n)))
        ex.write_safetensors(out, ex.torchvision_export(entries, "resnet50", drop_head=False),
                             {"format": "pt", "source": "synthetic torchvision.resnet50"})
        return
    torch.manual_seed(0)
    try:
        import torchvision
        state = torchvision.models.resnet50(weights=None).state_dict()
        print("mode: torchvision.models.resnet50(weights=None)")
    except ImportError:
        state = {name: (torch.zeros(shape, dtype=torch.int64) if name.endswith("num_batches_tracked")
                        else torch.randn(shape)) for name, shape in table.items()}
        print("mode: torch.randn over the hand-written table")
    pth = os.path.join(work, "resnet50_synthetic.pth")
    torch.save(state, pth)
    ex.main(["--torchvision", "resnet50", pth, "-o", out])


if __name__ == "__main__":
    main()

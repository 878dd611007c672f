#!/usr/bin/env python3
"""scripts/export_torch_weights.py's torchvision checks, without torch.

usage: test_export_torchvision.py SCRIPTS_DIR
- the hand-written resnet50 table has torchvision's 25,557,032 parameters;
- --drop-head leaves fc.* out; a renamed or misshapen tensor is refused, naming it;
- a head of another class count passes (the backbone is what --init-from needs);
- contradictory command lines are refused before anything is read.
"""
import contextlib
import io
import sys
import unittest


class TorchvisionExport(unittest.TestCase):
    def entries(self, **changes):
        out = []
        for name, shape in ex.torchvision_resnet50_shapes().items():
            shape = changes.get(name, shape)
            dtype = "I64" if name.endswith("num_batches_tracked") else "F32"
            n = 1
            for d in shape:
                n *= d
            out.append((name, dtype, shape, b"\0" * (n * (8 if dtype == "I64" else 4))))
        return out

    def test_table_is_torchvisions_resnet50(self):
        shapes = ex.torchvision_resnet50_shapes()
        params = sum(_numel(s) for n, s in shapes.items() if "running_" not in n and "num_batches" not in n)
        self.assertEqual(params, 25557032)
        self.assertEqual(shapes["layer4.2.conv2.weight"], [512, 512, 3, 3])
        self.assertEqual(shapes["layer3.0.downsample.0.weight"], [1024, 512, 1, 1])

    def test_drop_head(self):
        kept = ex.torchvision_export(self.entries(), "resnet50", drop_head=True)
        names = [e[0] for e in kept]
        self.assertNotIn("fc.weight", names)
        self.assertIn("layer4.2.bn3.running_var", names)
        self.assertEqual(len(names), len(self.entries()) - 2)

    def test_other_head_passes_wrong_backbone_refused(self):
        ex.torchvision_export(self.entries(**{"fc.weight": [26, 2048], "fc.bias": [26]}), "resnet50", False)
        with self.assertRaisesRegex(ValueError, r"shape of layer1.0.conv1.weight"):
            ex.torchvision_export(self.entries(**{"layer1.0.conv1.weight": [64, 64, 3, 3]}), "resnet50", False)
        renamed = [("backbone." + e[0],) + e[1:] if e[0] == "conv1.weight" else e for e in self.entries()]
        with self.assertRaisesRegex(ValueError, r"missing: conv1.weight[\s\S]*not in torchvision's resnet50: backbone.conv1.weight"):
            ex.torchvision_export(renamed, "resnet50", False)

    def test_command_line_refusals(self):
        for argv in (["x.pth", "--pretrained", "--torchvision", "resnet50", "-o", "o"],
                     ["--module", "m:f", "--torchvision", "resnet50", "-o", "o"],
                     ["-o", "o"]):
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
                ex.main(argv)


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


if __name__ == "__main__":
    sys.path.insert(0, sys.argv.pop(1))
    import export_torch_weights as ex
    unittest.main()

#!/usr/bin/env python3
"""Table 1 of the paper for both regimes, from the runs scripts/pretrain_finetune.sh made.

usage: finetune_summary.py OUT_DIR

Reads OUT_DIR/runs/{scratch,finetuned}/seed<S>/<model>/report.json (a run that has not finished
is left out and named on stderr) and writes
  OUT_DIR/summary.json  model -> {"scratch": {...}, "finetuned": {...}}; each regime holds, for
                        val_acc_max, val_acc_avg, macro_precision, macro_recall, macro_f1 and their
                        weighted_ twins: the mean over seeds, the spread (sample standard deviation,
                        min, max) and the per-seed values, plus "seeds" (how many finished)
  OUT_DIR/table.md      the paper's Table 1 shape, one row per model and regime, mean +- std
Only the standard library: it runs wherever the script does.
"""
import json
import math
import os
import sys

REGIMES = ("scratch", "finetuned")
KEYS = ("val_acc_max", "val_acc_avg", "macro_precision", "macro_recall", "macro_f1",
        "weighted_precision", "weighted_recall", "weighted_f1")
NAMES = {"resnet50": "ResNet-50", "botnet50": "BoTNet-50", "hsanet_x": "HSANet(x)", "hsanet_3x3": "HSANet(3x3)"}


def metrics_of(report):
    """The KEYS of one run's report.json."""
    m = {"val_acc_max": report["val_acc_max"], "val_acc_avg": report["val_acc_avg"]}
    for avg in ("macro", "weighted"):
        for k in ("precision", "recall", "f1"):
            m[f"{avg}_{k}"] = report[f"{avg}_avg"][k]
    return m


def spread(values):
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "per_seed": values}


def collect(out):
    """{model: {regime: [(seed, metrics), ...]}} from every finished run under out/runs."""
    found = {}
    for regime in REGIMES:
        root = os.path.join(out, "runs", regime)
        if not os.path.isdir(root):
            continue
        for seed_dir in sorted(os.listdir(root)):
            for model in sorted(os.listdir(os.path.join(root, seed_dir))):
                run = os.path.join(root, seed_dir, model)
                path = os.path.join(run, "report.json")
                if not os.path.isfile(path):
                    print(f"finetune_summary.py: {run} has not finished; left out", file=sys.stderr)
                    continue
                with open(path) as f:
                    report = json.load(f)
                found.setdefault(model, {}).setdefault(regime, []).append((seed_dir, metrics_of(report)))
    return found


def summarise(found):
    summary = {}
    for model, regimes in found.items():
        summary[model] = {}
        for regime, runs in regimes.items():
            cell = {"seeds": len(runs), "runs": [s for s, _ in runs]}
            for k in KEYS:
                s = spread([m[k] for _, m in runs])
                cell[k] = s["mean"]
                cell[k + "_spread"] = s
            summary[model][regime] = cell
    return summary


def table(summary):
    head = ("| model | regime | seeds | avg val acc | best val acc | macro P | macro R | macro F1 "
            "| weighted P | weighted R | weighted F1 |")
    lines = [head, "|" + "---|" * 11]
    order = [m for m in NAMES if m in summary] + sorted(m for m in summary if m not in NAMES)
    for model in order:
        for regime in REGIMES:
            cell = summary[model].get(regime)
            if not cell:
                continue
            def fmt(k):
                s = cell[k + "_spread"]
                return f"{s['mean']:.4f}" + (f" ± {s['std']:.4f}" if cell["seeds"] > 1 else "")
            cols = [fmt(k) for k in ("val_acc_avg", "val_acc_max", "macro_precision", "macro_recall", "macro_f1",
                                     "weighted_precision", "weighted_recall", "weighted_f1")]
            lines.append(f"| {NAMES.get(model, model)} | {regime} | {cell['seeds']} | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n\nMean over seeds ± sample standard deviation; validation split of the data set.\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: finetune_summary.py OUT_DIR")
    out = sys.argv[1]
    summary = summarise(collect(out))
    if not summary:
        sys.exit(f"finetune_summary.py: no finished run under {out}/runs")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    text = table(summary)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    print(text, end="")
    print(f"wrote {out}/summary.json and {out}/table.md")


if __name__ == "__main__":
    main()

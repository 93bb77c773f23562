#!/usr/bin/env python3
"""Prints the README's results table (Markdown) from the summary.json that
`pcplay reproduce all --out DIR` writes.  Usage: results_table.py DIR/summary.json"""
import json
import sys

PAPER = {  # what the paper reports, from the paper (docs/algorithms.md)
    1: "loss 0.099→0.008 (BP 0.007); accuracy 0.95–0.98 both; rel. errors ≈ 0.95 / 0.85 / 0.65 / 0.27 / ≈0",
    2: "η=0.1, n=400: ≈0.5–0.65 / 0.3 / 0.1 / 0.02; η=0.5 and 1 diverge",
    3: "loss 2.30→0.13 (BP 0.11); rel. errors flat 0.89 / 0.71 / 0.42 / 0.14 / 0",
    4: "η=1 exact at n = 2, 3, 4, 5 for layers 4, 3, 2, 1",
    5: "(CIFAR-10) loss 2.30→≈1.2 both; accuracy 0.55–0.65",
    6: "rel. errors ≤ 0.015 (float32)",
    7: "(CIFAR-10) rel. errors ≈ 1e-4",
}


def fmt(values, digits=3):
    return " / ".join(f"{v:.{digits}g}" if v == v else "nan" for v in values)


def main(path):
    rows = ["| Fig | paper | pcplay (this machine) |", "|---|---|---|"]
    for f in json.load(open(path)):
        n = f["figure"]
        if "by_eta" in f:
            parts = []
            for e in f["by_eta"]:
                exact = e["exact_from_n"]
                parts.append(f"η={e['eta']:g}: n=20 {fmt(e['rel_error_at_20'])}; n={f['n_max']} "
                             f"{fmt(e['rel_error_at_max'])}"
                             + (f"; {'exact' if e['eta'] == 1 else 'below 1e-10'} from n = "
                                f"{', '.join(str(x) for x in exact)}" if all(x > 0 for x in exact) else ""))
            ours = "<br>".join(parts)
        else:
            ours = (f"loss {f['loss_first']:.3g}→{f['loss_last10']:.3g} (BP {f['bp_loss_last10']:.3g}); "
                    f"test accuracy {f['test_accuracy']:.3f} (BP {f['bp_test_accuracy']:.3f}); "
                    f"rel. errors {fmt(f['mean_rel_error'], 2 if f['eta'] < 1 else 2)}")
        rows.append(f"| {n} ([svg](docs/figures/fig{n}.svg)) | {PAPER[n]} | {ours} ({f['dtype']}) |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1])

"""IsolationForest on wardwatch's feature windows, beside wardwatch's own results.

Reads the CSV of `wardwatch-exporter evaluate --dump-windows` (set, device, start_s,
scenario, score, features...) and evaluate's JSON report; prints one table per scenario.
Run by anomaly.sh (pinned to one core)."""

import csv
import json
import sys
import time
from collections import defaultdict

import numpy as np
from sklearn.ensemble import IsolationForest

FIRST_FEATURE = 5


def load(path):
    rows = defaultdict(lambda: {"train": [], "test": []})
    with open(path) as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            rows[r[1]][r[0]].append((r[3], [float(x) for x in r[FIRST_FEATURE:]]))
    return rows


def tally(truth, flagged):
    normal = sum(1 for t in truth if not t)
    fp = sum(1 for t, f in zip(truth, flagged) if not t and f)
    out = {}
    for s in sorted({t for t in truth if t}):
        pos = sum(1 for t in truth if t == s)
        tp = sum(1 for t, f in zip(truth, flagged) if t == s and f)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / pos
        out[s] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
    return out, fp / normal if normal else 0.0


def main():
    rows = load(sys.argv[1])
    ours = json.load(open(sys.argv[2]))
    truth, flagged = [], []
    scored, seconds = 0, 0.0
    for device, sets in sorted(rows.items()):
        train = np.array([f for _, f in sets["train"]])
        test = np.array([f for _, f in sets["test"]])
        forest = IsolationForest(n_estimators=100, random_state=1).fit(train)
        threshold = np.quantile(forest.decision_function(train), 0.01)
        started = time.perf_counter()
        scores = forest.decision_function(test)
        seconds += time.perf_counter() - started
        scored += len(test)
        truth += [s for s, _ in sets["test"]]
        flagged += list(scores < threshold)
    forest_results, forest_fpr = tally(truth, flagged)
    rate = scored / seconds if seconds else 0.0

    print(f"CPU: {cpu_model()}; one core (taskset -c 1)")
    print(f"{ours['test_windows']} test windows ({ours['normal_windows']} normal) of {ours['devices']} devices; "
          f"{ours['train_windows']} training windows")
    print()
    print(f"{'scenario':<18} {'windows':>7} | {'wardwatch P':>11} {'R':>6} {'F1':>6} | {'IForest P':>9} {'R':>6} {'F1':>6}")
    for s in ours["scenarios"]:
        f = forest_results.get(s["scenario"], {"precision": 0, "recall": 0, "f1": 0})
        print(f"{s['scenario']:<18} {s['positives']:>7} | {s['precision']:>11.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} | "
              f"{f['precision']:>9.3f} {f['recall']:>6.3f} {f['f1']:>6.3f}")
    print(f"{'FPR (normal)':<18} {ours['normal_windows']:>7} | {ours['false_positive_rate'] * 100:>10.2f}% {'':>13} | "
          f"{forest_fpr * 100:>8.2f}%")
    print(f"{'windows/s scored':<18} {'':>7} | {ours['score_windows_per_second']:>11.0f} {'':>13} | {rate:>9.0f}")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Re-measures run directories' engine speed-ups in alternated rounds and records the median round.

    python3 scripts/remeasure.py --reference runs/DENSE/model.safetensors runs/A runs/B ... [--rounds 3]

One `bench infer` per run is one sample of a noisy host: the dense reference and the model are timed
in the same call, but a slow spell of the host can still land on one of them (on this machine the
same dense M-CifarNet took 3.8-5.3 ms at batch 1 from one call to the next). So every run is measured
--rounds times at each batch size, the runs alternating within a round, and each run's
bench-infer-b<B>.json is rewritten with the round whose measured speed-up is the median. Prints one
line per run and batch: the measured / FLOP speed-up of every round, and the median.
Run it on an otherwise idle machine. DYNASLIM names the binary (default .build/release/dynaslim).
"""
import argparse, json, os, statistics, subprocess

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--reference", required=True, help="the dense checkpoint every run is timed against")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--repeats", default="1:100,64:5", help="timed batches per model, by batch size")
    a = ap.parse_args()
    binary = os.environ.get("DYNASLIM", ".build/release/dynaslim")
    repeats = {int(k): v for k, v in (p.split(":") for p in a.repeats.split(","))}
    results = {}
    for _ in range(a.rounds):
        for batch in map(int, a.batches.split(",")):
            for run in a.runs:
                out = subprocess.run([binary, "bench", "infer", os.path.join(run, "model.safetensors"), "--reference", a.reference,
                                      "--batch", str(batch), "--repeats", repeats.get(batch, "10"), "--json"],
                                     check=True, capture_output=True, text=True).stdout
                results.setdefault((run, batch), []).append(json.loads(out[out.index("{"):]))
    for (run, batch), samples in results.items():
        ordered = sorted(samples, key=lambda s: s["measured_speedup"])
        median = ordered[len(ordered) // 2]
        with open(os.path.join(run, f"bench-infer-b{batch}.json"), "w") as f:
            json.dump(median, f, sort_keys=True)
        ratios = " ".join(f"{s['measured_speedup']:.2f}/{s['flop_speedup']:.2f}" for s in samples)
        print(f"{os.path.basename(run.rstrip('/'))} batch {batch}: rounds {ratios} -> median {median['measured_speedup']:.2f}x "
              f"({median['measured_speedup'] / median['flop_speedup']:.2f} of FLOP)")

if __name__ == "__main__":
    main()

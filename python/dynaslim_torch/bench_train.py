"""PyTorch's training step for the reference row of `dynaslim bench train --torch`: forward,
cross-entropy, backward and an SGD step (momentum 0.9, weight decay 5e-4) of the same model, input,
batch and thread count on synthetic data, median of --steps timed steps after warm-up. Prints one
JSON object; exits 3 with a reason on stderr when torch is missing.

  python3 -m dynaslim_torch.bench_train --model resnet20 --input 3x32x32 --batch-size 128 --threads 2
"""
import argparse, json, sys, time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"torch is not installed ({e})", file=sys.stderr)
        sys.exit(3)
    from .models import build_model
    torch.set_num_threads(args.threads)
    c, h, w = (int(v) for v in args.input.split("x"))
    torch.manual_seed(0)
    model = build_model({"architecture": args.model, "inputChannels": c, "classes": args.classes})
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(args.batch_size, c, h, w)
    y = torch.randint(0, args.classes, (args.batch_size,))
    model.train()
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "median_step_ms": median * 1e3,
                      "images_per_second": args.batch_size / median}))


if __name__ == "__main__":
    main()

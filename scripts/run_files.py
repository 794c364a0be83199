"""Reading a run directory's JSON files (eval.json, bench-infer-b*.json) for the table scripts."""
import json

def load(path):
    """The parsed JSON file, or None when it is missing or unreadable (a stage not run yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_dense(run_dir):
    """The dense run's eval.json, which the tables need; exits with a hint when it is missing."""
    import os
    e = load(os.path.join(run_dir, "eval.json"))
    if e is None:
        raise SystemExit(f"{run_dir}/eval.json missing: run `dynaslim eval ... --json > {run_dir}/eval.json`")
    return e

"""Reading a run directory's JSON files (eval.json, bench-infer-b*.json) for the table scripts."""
import json

def load(path):
    """The parsed JSON file, or None when it is missing or unreadable (a stage not run yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

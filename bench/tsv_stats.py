"""What the summarize_*.py scripts share: numbers from a results.tsv row and their medians."""
import statistics


def num(v):
    """A field as a float, or None (empty, NA, missing)."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def median(rows, key):
    """The median of `key` over the rows that have a number there, or None."""
    vals = [x for x in (num(r.get(key)) for r in rows) if x is not None]
    return statistics.median(vals) if vals else None

"""Run every benchmark peer on the project's TOPK and RATING splits; print a table, write JSON.

    python -m benchmarks.run_peers --data-dir ../shared/data/ml-100k \
        --output benchmarks/results/peers.json

`recsys benchmark` imports `run_topk_peers` / `run_rating_peers` and adds the TFX models.
A peer whose optional library is missing is reported with an "error" entry, not dropped.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import data as bdata
from benchmarks import peers
from contract import features as F
from contract import splits, topk_metrics

K = 10


def evaluate_topk_peer(peer: peers.TopKPeer, split: bdata.Split, k: int = K) -> dict[str, Any]:
    """Fit on split's training matrix, score the catalogue, HR@k/NDCG@k on the test users."""
    peer.fit(split.train_matrix())
    scores = peer.score()[split.test_users]
    seen = [split.seen[u] for u in split.test_users]
    result: dict[str, Any] = topk_metrics.top_k_metrics(scores, split.test_items, seen, k=k)
    result["fit_seconds"] = round(peer.fit_seconds, 4)
    return result


def evaluate_sequence_peer(peer: peers.SequencePeer, split: bdata.Split,
                           k: int = K) -> dict[str, Any]:
    """Fit on each user's training sequence, score the next item, HR@k/NDCG@k as above."""
    peer.fit(split.sequences, split.n_items)
    scores = peer.score()[split.test_users]
    seen = [split.seen[u] for u in split.test_users]
    result: dict[str, Any] = topk_metrics.top_k_metrics(scores, split.test_items, seen, k=k)
    result["fit_seconds"] = round(peer.fit_seconds, 4)
    return result


def evaluate_rating_peer(peer: peers.RatingPeer, split: bdata.Split) -> dict[str, Any]:
    """Fit on split's training ratings, RMSE on its test ratings."""
    peer.fit(split.train_users, split.train_items, split.train_ratings)
    predictions = peer.predict(split.test_users, split.test_items)
    return {"rmse": topk_metrics.rmse(predictions, split.test_ratings),
            "fit_seconds": round(peer.fit_seconds, 4)}


def _run(peer_list: Sequence[Any], split: bdata.Split, evaluate: Any,
         suffix: str = "") -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for peer in peer_list:
        entry: dict[str, Any] = {"protocol": split.protocol}
        try:
            entry.update(evaluate(peer, split))
        except ImportError as error:  # optional library (requirements/benchmark.txt) missing
            entry["error"] = f"{type(error).__name__}: {error}"
        entry["split"] = split.summary()
        results[peer.name + suffix] = entry
    return results


def run_topk_peers(split: bdata.Split, history_length: int = F.DEFAULT_HISTORY_LENGTH,
                   ) -> dict[str, dict[str, Any]]:
    """{peer: {protocol, hit_rate_at_10, ndcg_at_10, fit_seconds, split}} for the TOPK peers,
    the sequence peers reading `history_length` items."""
    results = _run(peers.topk_peers(), split, evaluate_topk_peer)
    results.update(_run(peers.sequence_peers(history_length), split, evaluate_sequence_peer))
    return results


def run_rating_peers(split: bdata.Split, suffix: str = "") -> dict[str, dict[str, Any]]:
    """{peer name + suffix: {protocol, rmse, fit_seconds, split}} for the RATING peers."""
    return _run(peers.rating_peers(), split, evaluate_rating_peer, suffix)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """Plain-text table: name, protocol, HR@10, NDCG@10, RMSE, train (fit) s, model MB.

    Serves peers (fit_seconds) and the pipeline's models (train_seconds, model_mb) alike.
    """
    header = (f"{'name':<22}{'protocol':<10}{'HR@10':>8}{'NDCG@10':>9}{'RMSE':>8}"
              f"{'train s':>9}{'model MB':>10}")
    lines = [header, "-" * len(header)]
    for name, entry in results.items():
        if "error" in entry:
            lines.append(f"{name:<22}{entry['protocol']:<10}  {entry['error']}")
            continue
        seconds = entry.get("train_seconds", entry.get("fit_seconds"))
        cells = [_cell(entry.get(f"hit_rate_at_{K}"), 8), _cell(entry.get(f"ndcg_at_{K}"), 9),
                 _cell(entry.get("rmse"), 8), _cell(seconds, 9, 2),
                 _cell(entry.get("model_mb"), 10, 2)]
        lines.append(f"{name:<22}{entry['protocol']:<10}" + "".join(cells))
    return "\n".join(lines)


def _cell(value: float | None, width: int, digits: int = 4) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def versions() -> dict[str, str]:
    """Library versions behind the figures (missing optional ones marked)."""
    found = {"python": platform.python_version(), "numpy": np.__version__}
    for module in ("scipy", "implicit", "surprise", "tensorflow"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            found[module] = "not installed"
    return found


def run_all(data_dir: Path, presplit: str | None = None,
            history_length: int = F.DEFAULT_HISTORY_LENGTH, topk: bool = True,
            rating: bool = True) -> dict[str, dict[str, Any]]:
    """TOPK (`topk`) and RATING (`rating`) peers on the ratings of `data_dir` (any MovieLens
    layout), split as the ExampleGen splits them; plus RATING peers on
    `{presplit}.base/.test`."""
    results: dict[str, dict[str, Any]] = {}
    if topk:
        results.update(run_topk_peers(bdata.load_split(data_dir, splits.Protocol.TOPK),
                                      history_length))
    if rating:
        results.update(run_rating_peers(bdata.load_split(data_dir, splits.Protocol.RATING)))
    if presplit:
        split = bdata.load_split(data_dir, splits.Protocol.PRESPLIT,
                                 train_file=f"{presplit}.base", eval_file=f"{presplit}.test")
        results.update(run_rating_peers(split, f"@{presplit}"))
    env = versions()
    for entry in results.values():
        entry["versions"] = env
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="directory with raw MovieLens files (any GroupLens layout)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/peers.json"))
    parser.add_argument("--presplit", default=None,
                        help="also run RATING peers on DATA_DIR/NAME.base + NAME.test (e.g. u1)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run_all(args.data_dir, args.presplit)
    print(format_table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.output}")
    return 1 if any("error" in entry for entry in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

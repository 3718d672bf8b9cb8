"""`recsys watch`: a local run for every new complete span of a data directory.

    recsys watch --data-dir DIR --window 3 [--once] [--max-runs N] [--poll-seconds S]

takes every option of `recsys run`, builds the run's settings once, and polls DIR. A span is
complete once its `_SUCCESS` marker exists (spans still being copied are never read). The
first run in an output directory takes the latest complete span (its window reaches back over
the earlier ones); after that every span after the last one the data gate accepted runs in
order, ending its own window (`--span N`), so each is checked for drift on its own. A failed
or refused run is printed as `recsys run` prints it; watch then waits for that span to be
delivered again (its marker rewritten) or accepted by hand (`recsys run --span N ...`) before
going on, since every later window holds it. On Vertex AI, `recsys submit --schedule` plays
this part (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from recsys.cli import common, local_run
from recsys.cli.common import CliError

DEFAULT_POLL_SECONDS = 60.0


def register(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    watch = commands.add_parser(
        "watch", parents=[parent],
        help="run the pipeline on this machine whenever a new complete span appears")
    watch.add_argument("--data-dir", required=True, help="directory of spans: span-<N>/")
    watch.add_argument("--once", action="store_true",
                       help="run what is new now, then exit (status: the last run's)")
    watch.add_argument("--max-runs", type=int, metavar="N",
                       help="exit after N runs (default: keep watching)")
    watch.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS,
                       help="between two looks at the data directory (default: %(default)s)")
    local_run.add_local_run_arguments(watch)
    watch.set_defaults(handler=_watch, window=0)  # every span, unless --window says otherwise


@dataclasses.dataclass
class Pending:
    """Which spans to run next, from the complete spans, those the data gate accepted (in ML
    Metadata) and those whose run failed in this process, with the time of their marker: a
    span delivered again (its marker rewritten) is tried again."""

    failed: dict[int, float] = dataclasses.field(default_factory=dict)

    def next_spans(self, complete: dict[int, float], accepted: set[int]) -> list[int]:
        """Span numbers to run, in order; `complete`: span number -> its marker's mtime. The
        first run takes the latest span; then every span after the last accepted one."""
        if not complete:
            return []
        todo = (sorted(n for n in complete if n > max(accepted)) if accepted
                else [max(complete)])
        if todo and todo[0] in self.failed:
            if self.failed[todo[0]] == complete[todo[0]]:
                return []  # it failed as it is, and every later window holds it
            del self.failed[todo[0]]
        return todo


def _watch(args: argparse.Namespace) -> int:
    if args.span is not None:
        raise CliError("--span: recsys watch picks the spans itself (use recsys run --span)")
    if args.poll_seconds <= 0:
        raise CliError(f"--poll-seconds must be more than 0, got {args.poll_seconds}")
    if args.max_runs is not None and args.max_runs < 1:
        raise CliError(f"--max-runs must be at least 1, got {args.max_runs}")
    settings = local_run.local_settings(args, lambda: args.data_dir)
    from components.movielens_example_gen import spans  # TensorFlow: after the checks
    from recsys.inspection import run_summary

    common.console.print(
        f"watching {settings.data_dir} for complete spans (window "
        f"{settings.window or 'all'}, warm start {'on' if settings.warm_start else 'off'})",
        markup=False)
    pending, runs, status, waiting_shown = Pending(), 0, 0, False
    try:
        while True:
            complete = {span.number: _marker_time(span) for span in
                        spans.complete_spans(settings.data_dir)}
            todo = pending.next_spans(complete, run_summary.accepted_spans(settings.metadata_path))
            for span in todo:
                common.console.print(f"span {span}: complete, running", markup=False)
                runs += 1
                try:
                    local_run.run_locally(dataclasses.replace(settings, span=span), args.verbose,
                                       command="watch")
                    status = 0
                except Exception as error:  # noqa: BLE001 - printed as recsys run prints it
                    status = common.report_failure(error)
                    pending.failed[span] = complete[span]
                    common.console.print(f"span {span}: not accepted; waiting for it to be "
                                         "delivered again or run by hand", markup=False)
                if status or (args.max_runs and runs >= args.max_runs):
                    break
            if args.once or (args.max_runs and runs >= args.max_runs):
                return status
            if not todo and not waiting_shown:
                common.console.print("waiting for a new complete span", markup=False)
            waiting_shown = not todo
            time.sleep(args.poll_seconds)
    except KeyboardInterrupt:
        common.console.print("stopped", markup=False)
        return status


def _marker_time(span) -> float:
    import tensorflow as tf

    from components.movielens_example_gen import spans

    return tf.io.gfile.stat(f"{span.path}/{spans.SUCCESS_MARKER}").mtime_nsec / 1e9

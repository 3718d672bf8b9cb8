"""MovieLensExampleGen: a FileBasedExampleGen-style component for the GroupLens releases."""

from __future__ import annotations

from tfx.components.example_gen import utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration.data_types import RuntimeParameter
from tfx.proto import example_gen_pb2
from tfx.types import channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.movielens_example_gen import executor, rules
from contract import splits
from contract.features import HISTORY_LENGTH


class MovieLensExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        executor.PROTOCOL_KEY: ExecutionParameter(type=str),
        executor.HISTORY_LENGTH_KEY: ExecutionParameter(type=int),
        executor.SEED_KEY: ExecutionParameter(type=int),
        executor.TRAIN_FILE_KEY: ExecutionParameter(type=str, optional=True),
        executor.EVAL_FILE_KEY: ExecutionParameter(type=str, optional=True),
        # int, not bool: every orchestrator (KFP v2 included) carries ints natively.
        executor.QUARANTINE_KEY: ExecutionParameter(type=int, optional=True),
        executor.MAX_BAD_ROW_FRACTION_KEY: ExecutionParameter(type=float, optional=True),
        executor.MIN_TIMESTAMP_KEY: ExecutionParameter(type=int, optional=True),
        executor.MAX_TIMESTAMP_KEY: ExecutionParameter(type=int, optional=True),
        executor.DUPLICATES_KEY: ExecutionParameter(type=str, optional=True),
    }


class MovieLensExampleGen(FileBasedExampleGen):
    """Reads a raw MovieLens directory into `train` / `validation` / `eval` tf.Examples
    (contract/features.py; the splits: contract/splits.py).

    A FileBasedExampleGen so that every orchestrator runs its driver (LocalDagRunner through
    DRIVER_CLASS, Vertex through the pre-cache-check hook it adds for this class only): the
    driver fingerprints the input files, so a changed file invalidates the cache.
    """

    SPEC_CLASS = MovieLensExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        input_base: str | RuntimeParameter,
        protocol: str | RuntimeParameter = splits.Protocol.TOPK.value,
        history_length: int = HISTORY_LENGTH,
        seed: int = splits.DEFAULT_SEED,
        train_file: str | RuntimeParameter | None = None,
        eval_file: str | RuntimeParameter | None = None,
        quarantine_bad_rows: bool = False,
        max_bad_row_fraction: float = executor.DEFAULT_MAX_BAD_ROW_FRACTION,
        min_timestamp: int = rules.EARLIEST_TIMESTAMP,
        max_timestamp: int | None = None,
        duplicate_ratings: str = rules.DuplicatePolicy.KEEP_LATEST.value,
    ):
        """`min_timestamp`/`max_timestamp`: the accepted rating times (seconds since the
        epoch, both included; None: one day after the run), `duplicate_ratings` a
        rules.DuplicatePolicy (see rules.py)."""
        # Fail at pipeline construction on a typo; a RuntimeParameter (Vertex AI) is checked by
        # the executor when the step runs.
        if isinstance(protocol, str):
            executor.parse_protocol(protocol)
        rules.DuplicatePolicy(duplicate_ratings)
        if not 0.0 <= max_bad_row_fraction <= 1.0:
            raise ValueError(f"max_bad_row_fraction {max_bad_row_fraction} is not in 0..1")
        if max_timestamp is not None and max_timestamp < min_timestamp:
            raise ValueError(f"max_timestamp {max_timestamp} is before min_timestamp "
                             f"{min_timestamp}")
        input_config = utils.make_default_input_config()
        # Splits come from the protocol (contract/splits.py), not from hash buckets.
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name=split, hash_buckets=1)
            for split in splits.SPLITS]))
        spec = MovieLensExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=channel.Channel(type=standard_artifacts.Examples),
            **{
                executor.PROTOCOL_KEY: protocol,
                executor.HISTORY_LENGTH_KEY: history_length,
                executor.SEED_KEY: seed,
                executor.TRAIN_FILE_KEY: train_file,
                executor.EVAL_FILE_KEY: eval_file,
                # Left unset when off, so the cache key of existing runs does not change.
                executor.QUARANTINE_KEY: 1 if quarantine_bad_rows else None,
                executor.MAX_BAD_ROW_FRACTION_KEY:
                    max_bad_row_fraction if quarantine_bad_rows else None,
                executor.MIN_TIMESTAMP_KEY: min_timestamp,
                executor.MAX_TIMESTAMP_KEY: max_timestamp,
                executor.DUPLICATES_KEY: duplicate_ratings,
            },
        )
        # FileBasedExampleGen.__init__ would build its own spec without our parameters.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)

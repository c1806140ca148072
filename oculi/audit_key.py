"""The audit log's MAC key: where it lives, how it is created and read.

The key is kept outside the data directory, so that someone who can write the data
directory (and so the log) cannot forge records: by default one key per data directory,
`$XDG_CONFIG_HOME/oculi/audit-keys/<sha256 of the data directory's real path>.key`
(`~/.config/...`), or the file `--audit-key-file` / `OCULI_AUDIT_KEY_FILE` names. The file
holds 32 random bytes as hex, mode 0600, in a 0700 directory; a key file others can read or
write is refused. The key's existence also records that its data directory's log was
started: a missing log next to an existing key is a deleted log, not a new one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


class AuditError(Exception):
    """The audit log cannot be opened or trusted: its key is missing, unreadable or does not
    fit the log, or the log was deleted."""


def default_key_file(data_dir: Path) -> Path:
    """The per-data-directory key under the user's configuration directory."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    name = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return base / "oculi" / "audit-keys" / f"{name}.key"


def key_file_for(data_dir: Path, explicit: Path | None) -> Path:
    return explicit if explicit is not None else default_key_file(data_dir)


def load_key(path: Path) -> bytes | None:
    """The key in `path`, or None when there is no such file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        raise AuditError(f"cannot read the audit key {path}: {e}") from None
    if mode & 0o077:
        raise AuditError(
            f"the audit key {path} is open to other users (mode {mode & 0o777:o}); chmod 600 it"
        )
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as e:
        raise AuditError(f"cannot read the audit key {path}: {e}") from None
    if len(key) != KEY_BYTES:
        raise AuditError(f"the audit key {path} is not {KEY_BYTES} bytes of hex")
    return key


def create_key(path: Path) -> bytes:
    """A new random key, written to `path` (0600, parents 0700); fails if `path` exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise AuditError(f"cannot create the audit key {path}: {e}") from None
    try:
        os.write(fd, (key.hex() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return key


def key_id(key: bytes) -> str:
    """A short public name of the key (recorded in the log; reveals nothing of the key)."""
    return hashlib.sha256(b"oculi audit key id\0" + key).hexdigest()[:16]

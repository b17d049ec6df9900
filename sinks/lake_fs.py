"""Where the lake lives: a local folder or any URI `pyarrow.fs` opens, behind one small class.

Every path is built from segments checked against what the lake writes: a table name
from the registry, a `date=YYYY-MM-DD` partition we formatted, a file name we
generated. Nothing from API data (a project id such as `../../etc`) can ever become
a path segment, and a tampered manifest cannot make the lake write or delete outside
its root.

Publishing a file is the same two steps everywhere: write it under a hidden temporary
name (`.part….tmp`, which Hive-style readers, pyarrow, Spark and DuckDB's `*.parquet`
globs all skip), then `move` it to its final name. On a local disk the move is a
`rename` onto the partition's fixed name `part.parquet`, which atomically replaces the
previous version: a reader sees the old file or the new one, never both, never half.
Everywhere else (S3, GCS, Azure, HDFS) the final name is new for every version
(`part-<uuid>.parquet`) and the move is a rename or, on object stores, a server-side
copy: the final object appears only complete, even if the writer failed midway (an
S3 upload that is closed after an error would otherwise publish a truncated file).
The old version is deleted after the manifest points at the new one.

S3 endpoint: `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (for MinIO, Ceph, moto...)
overrides the endpoint; credentials and region come from the usual AWS variables.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from state.errors import ConfigError, SinkError

from .lake_manifest import FLAT, MANIFEST_NAME, Manifest, is_file_name, is_partition

__all__ = ["LakeFS", "is_table_name"]

_TABLE_NAME = re.compile(r"^_?[a-z][a-z0-9_]*$")


def is_table_name(name: str) -> bool:
    """A name the warehouse could give a table: lower-case letters, digits, underscores.

    Checked before any path is built, so no table name can climb out of the lake."""
    return bool(_TABLE_NAME.fullmatch(name))

_LOCAL_FILE = "part.parquet"


@dataclass(frozen=True)
class LakeFS:
    """A lake root: `fs` and the `base` path inside it (no trailing slash)."""

    fs: pafs.FileSystem
    base: str
    uri: str

    @classmethod
    def open(cls, root: str, *, create: bool = True) -> LakeFS:
        """Open a local folder (created if missing, unless `create` is False: then a
        missing folder is a SinkError) or a URI; ConfigError if it cannot be opened."""
        root = str(root).strip()
        if not root:
            raise ConfigError("the lake root is empty: give a folder or a URI such as s3://bucket/prefix")
        try:
            if "://" not in root:
                local = Path(root).expanduser().resolve()
                fs: pafs.FileSystem = pafs.LocalFileSystem()
                base = str(local)
            else:
                fs, base = _from_uri(root)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise ConfigError(f"cannot open the lake {root!r}: {_one_line(exc)}") from exc
        lake = cls(fs, base.rstrip("/") or base, root)
        if lake.local and not create:
            if not Path(lake.base).is_dir():
                raise SinkError(f"no lake at {lake.base}: run `harvester export` first")
        elif lake.local:
            try:
                fs.create_dir(lake.base, recursive=True)
            except OSError as exc:
                raise SinkError(f"cannot create the lake folder {lake.base}: {_one_line(exc)}") from exc
        return lake

    @property
    def local(self) -> bool:
        return self.fs.type_name == "local"

    # ---- paths -----------------------------------------------------------------

    def path(self, table: str, partition: str = FLAT, name: str = "") -> str:
        """`<base>/<table>[/<partition>][/<name>]`, refusing any segment the lake does not write."""
        if not is_table_name(table):
            raise SinkError(f"refusing lake path: {table!r} is not a table name")
        if not is_partition(partition):
            raise SinkError(f"refusing lake path: {partition!r} is not a date=YYYY-MM-DD partition")
        if name and not (name == MANIFEST_NAME or is_file_name(name) or is_file_name(name, temp=True)):
            raise SinkError(f"refusing lake path: {name!r} is not a lake file name")
        return "/".join(s for s in (self.base, table, partition, name) if s)

    def display(self, table: str, partition: str = FLAT, name: str = "") -> str:
        """The path as a user would type it (with the URI scheme for remote lakes)."""
        path = self.path(table, partition, name)
        return path if self.local else f"{self.uri.split('://', 1)[0]}://{path}"

    def new_file_name(self) -> str:
        """The final name of a partition's next version (see the module docstring)."""
        return _LOCAL_FILE if self.local else f"part-{uuid.uuid4().hex}.parquet"

    # ---- data files --------------------------------------------------------------

    @contextmanager
    def publishing(self, table: str, partition: str, name: str) -> Iterator[pa.NativeFile]:
        """Yield a stream to write a file into; on success it appears at its final name whole.

        On any error the temporary file is removed (best effort; a leftover one is an
        orphan the next sync deletes) and nothing appears under the final name.
        """
        final = self.path(table, partition, name)
        temp = self.path(table, partition, f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            if self.local:
                self.fs.create_dir(self.path(table, partition), recursive=True)
            stream = self.fs.open_output_stream(temp)
        except OSError as exc:
            raise SinkError(f"cannot write {self.display(table, partition, name)}: {_one_line(exc)}") from exc
        try:
            with stream:
                yield stream
            self.fs.move(temp, final)
        except BaseException as exc:
            self._remove_quietly(temp)
            if isinstance(exc, OSError):
                raise SinkError(f"cannot write {self.display(table, partition, name)}: {_one_line(exc)}") from exc
            raise

    def tables(self) -> list[str]:
        """The tables the lake holds: top-level folders with a table's name and a manifest."""
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.base, allow_not_found=True))
        except OSError as exc:
            raise SinkError(f"cannot list the lake {self.base}: {_one_line(exc)}") from exc
        names = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory and is_table_name(i.base_name))
        return [n for n in names if self.exists(self.path(n, FLAT, MANIFEST_NAME))]

    def exists(self, path: str) -> bool:
        try:
            return self.fs.get_file_info(path).type == pafs.FileType.File
        except OSError as exc:
            raise SinkError(f"cannot read {path}: {_one_line(exc)}") from exc

    def list_files(self, table: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(data files, temp files) under a table, as (partition, name); other files are ignored."""
        selector = pafs.FileSelector(self.path(table), allow_not_found=True, recursive=True)
        try:
            infos = self.fs.get_file_info(selector)
        except OSError as exc:
            raise SinkError(f"cannot list {self.display(table)}: {_one_line(exc)}") from exc
        prefix = self.path(table) + "/"
        data: set[tuple[str, str]] = set()
        temp: set[tuple[str, str]] = set()
        for info in infos:
            if info.type != pafs.FileType.File or not info.path.startswith(prefix):
                continue
            parts = info.path[len(prefix) :].split("/")
            partition, name = (FLAT, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
            if len(parts) > 2 or not is_partition(partition):
                continue
            if is_file_name(name):
                data.add((partition, name))
            elif is_file_name(name, temp=True):
                temp.add((partition, name))
        return data, temp

    def delete_files(self, table: str, files: Iterable[tuple[str, str]]) -> None:
        """Delete (partition, name) files; already-gone files are fine. Empty local partition dirs go too."""
        partitions = set()
        for partition, name in sorted(files):
            try:
                self.fs.delete_file(self.path(table, partition, name))
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise SinkError(f"cannot delete {self.display(table, partition, name)}: {_one_line(exc)}") from exc
            partitions.add(partition)
        if self.local:
            for partition in partitions - {FLAT}:
                folder = Path(self.path(table, partition))
                try:
                    folder.rmdir()  # only succeeds when empty
                except OSError:
                    pass

    # ---- manifest ------------------------------------------------------------------

    def read_manifest(self, table: str) -> Manifest | None:
        """The stored manifest; None when there is none; ManifestError when it is not one we wrote."""
        try:
            with self.fs.open_input_stream(self.path(table, FLAT, MANIFEST_NAME)) as stream:
                data = stream.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SinkError(f"cannot read {self.display(table, FLAT, MANIFEST_NAME)}: {_one_line(exc)}") from exc
        return Manifest.from_json(table, data)

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest in one step (rename locally; one PUT on object stores)."""
        table = manifest.table
        final = self.path(table, FLAT, MANIFEST_NAME)
        body = manifest.to_json()
        try:
            if self.local:
                self.fs.create_dir(self.path(table), recursive=True)
                # Every temp file shares one hidden pattern, so a killed sync's leftovers are found.
                temp = self.path(table, FLAT, f".part.parquet.{uuid.uuid4().hex}.tmp")
                with self.fs.open_output_stream(temp) as stream:
                    stream.write(body)
                self.fs.move(temp, final)
            else:
                with self.fs.open_output_stream(final) as stream:  # small: one PUT on close
                    stream.write(body)
        except OSError as exc:
            raise SinkError(f"cannot write {self.display(table, FLAT, MANIFEST_NAME)}: {_one_line(exc)}") from exc

    def _remove_quietly(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except OSError:
            pass


def _from_uri(root: str) -> tuple[pafs.FileSystem, str]:
    scheme = root.split("://", 1)[0].lower()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if scheme == "s3" and endpoint and "endpoint_override" not in root:
        url, target = urlsplit(endpoint), urlsplit(root)
        if not url.netloc or target.query:
            raise ValueError(f"AWS_ENDPOINT_URL {endpoint!r} is not a URL like http://host:port")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        fs = pafs.S3FileSystem(
            endpoint_override=url.netloc,
            scheme=url.scheme or "https",
            **({"region": region} if region else {}),
        )
        return fs, f"{target.netloc}{target.path}"
    fs, base = pafs.FileSystem.from_uri(root)
    return fs, base


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

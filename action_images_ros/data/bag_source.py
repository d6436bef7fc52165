"""Raw messages out of a rosbag2 bag (sqlite3 or MCAP), including an MCAP cut short.

A recorder that dies leaves an MCAP file without its summary and footer (and often a bag
directory without metadata.yaml); rosbags then refuses the whole file ("File end magic is
invalid"). The MCAP format is a stream of records, so everything written before the cut is still
readable front to back. `mcap.stream_reader.StreamReader` reads such a stream without seeking,
but only whole records: the chunk being written when the recorder died (rosbags and rosbag2 put
every message in chunks, often one large chunk) is lost with it. So the fallback here walks the
records itself and also reads the complete messages at the start of a cut chunk (uncompressed,
or zstd/lz4 decompressed as far as the data goes), recording where the readable part ended.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_MAGIC = b"\x89MCAP0\r\n"
_SCHEMA, _CHANNEL, _MESSAGE, _CHUNK, _FOOTER = 0x03, 0x04, 0x05, 0x06, 0x02


class _CutError(Exception):
    """The data ends inside a record."""


def _string(body: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", body, offset)
    end = offset + 4 + length
    if end > len(body):
        raise _CutError
    return bytes(body[offset + 4 : end]).decode(), end


def _decompress(compression: str, data: bytes) -> bytes:
    """As much of a (possibly cut) compressed chunk as decompresses."""
    if compression == "":
        return data
    if compression == "zstd":
        import zstandard

        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
        except zstandard.ZstdError:
            return b""
    if compression == "lz4":
        import lz4.frame

        try:
            return lz4.frame.LZ4FrameDecompressor().decompress(data)
        except RuntimeError:
            return b""
    raise _CutError


def _records(data: bytes, offset: int = 0) -> Iterator[tuple[int, bytes]]:
    """(opcode, body) of each complete record of `data` from `offset`, chunks opened; raises
    _CutError after the last complete record when the data ends inside one."""
    while offset < len(data):
        if offset + 9 > len(data):
            raise _CutError
        opcode, length = struct.unpack_from("<BQ", data, offset)
        body_start, body_end = offset + 9, offset + 9 + length
        if opcode == _CHUNK:
            # start, end, uncompressed size (u64 x3), crc (u32), compression, records length
            compression, records_at = _string(data, body_start + 28)
            records = data[records_at + 8 : min(body_end, len(data))]
            inner = _decompress(compression, records)
            yield from _records(inner)
            if (
                body_end > len(data)
                or len(inner) < struct.unpack_from("<Q", data, body_start + 16)[0]
            ):
                raise _CutError
        elif body_end > len(data):
            raise _CutError
        else:
            yield opcode, data[body_start:body_end]
            if opcode == _FOOTER:
                return
        offset = body_end


class BagError(ValueError):
    """A bag that cannot be read as asked (missing, corrupt, missing topics, wrong types)."""


@dataclass
class Truncation:
    """Where the readable part of a cut MCAP file ended."""

    file: str
    messages: int  # messages read before the cut
    last_stamp: float | None  # log time (s) of the last readable message
    reason: str

    def describe(self) -> str:
        end = "no message" if self.last_stamp is None else f"log time {self.last_stamp:.3f} s"
        return (
            f"{self.file} is cut short ({self.reason}); read {self.messages} messages up to {end}"
        )


class BagSource:
    """A bag's topics (`topics`: name -> message type) and its raw CDR messages by topic.

    Opens with rosbags; a bag rosbags cannot open that has MCAP files is streamed record by record
    instead (`truncation` then says where it ended, once the messages have been read).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        self.truncation: Truncation | None = None
        self._mcap_files: list[Path] = []
        self._reader = None  # kept open: opening parses metadata.yaml, slow on long bags
        try:
            from rosbags.rosbag2 import Reader

            self._reader = Reader(self.path)
            self._reader.open()
            self.topics = {c.topic: c.msgtype for c in self._reader.connections}
        except Exception as error:  # rosbags raises several types for broken bags
            self._reader = None
            self._mcap_files = self._find_mcap()
            if not self._mcap_files:
                raise BagError(f"cannot read bag {self.path}: {error}") from error
            self.topics = self._stream_topics()
            if not self.topics:
                raise BagError(
                    f"cannot read bag {self.path}: {error}; streaming its MCAP found no channel"
                ) from error

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _find_mcap(self) -> list[Path]:
        if self.path.is_file():
            return [self.path] if self.path.suffix == ".mcap" else []
        return sorted(self.path.glob("*.mcap"))

    def _scan(self, file: Path) -> Iterator[tuple[str, str, float, bytes]]:
        """(topic, message type, log time, CDR) of each readable message of `file`, in file
        order; sets `truncation` when the file ends inside a record."""
        schemas: dict[int, str] = {}
        channels: dict[int, tuple[str, str]] = {}
        count, last = 0, None
        with open(file, "rb") as stream:
            if stream.read(len(_MAGIC)) != _MAGIC:
                raise BagError(f"{file} is not an MCAP file (no magic bytes)")
            # Mapped, not read: a long recording is paged in as the records are walked.
            data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            for opcode, body in _records(data, len(_MAGIC)):
                if opcode == _SCHEMA:
                    (schema_id,) = struct.unpack_from("<H", body)
                    schemas[schema_id] = _string(body, 2)[0]
                elif opcode == _CHANNEL:
                    channel_id, schema_id = struct.unpack_from("<HH", body)
                    topic, _ = _string(body, 4)
                    if schema_id in schemas:
                        channels[channel_id] = (topic, schemas[schema_id])
                elif opcode == _MESSAGE:
                    channel_id, _, log_time = struct.unpack_from("<HIQ", body)
                    if channel_id in channels:
                        count, last = count + 1, log_time * 1e-9
                        yield (*channels[channel_id], last, body[22:])
        except (_CutError, struct.error, UnicodeDecodeError) as error:
            reason = "ends inside a record" if isinstance(error, _CutError) else f"corrupt: {error}"
            self.truncation = Truncation(str(file), count, last, reason)
        finally:
            data.close()

    def _stream_topics(self) -> dict[str, str]:
        topics: dict[str, str] = {}
        for file in self._mcap_files:
            for topic, msgtype, _, _ in self._scan(file):
                topics.setdefault(topic, msgtype)
        self.truncation = None  # recorded again when the messages are read
        return topics

    def messages(self, topics: set[str]) -> Iterator[tuple[str, str, float, bytes]]:
        """(topic, message type, log time in s, CDR bytes) of every message on `topics`, in
        bag order."""
        wanted = topics & set(self.topics)
        if not wanted:
            return
        if not self._mcap_files:
            if self._reader is None:
                from rosbags.rosbag2 import Reader

                self._reader = Reader(self.path)
                self._reader.open()
            reader = self._reader
            try:
                connections = [c for c in reader.connections if c.topic in wanted]
                for connection, log_time, raw in reader.messages(connections):
                    yield connection.topic, connection.msgtype, log_time * 1e-9, raw
            except Exception as error:  # a storage file that breaks while being read
                raise BagError(f"cannot read bag {self.path}: {error}") from error
            return
        for file in self._mcap_files:
            for topic, msgtype, log_time, raw in self._scan(file):
                if topic in wanted:
                    yield topic, msgtype, log_time, raw

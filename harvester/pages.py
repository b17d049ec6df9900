"""What fetchers hand the writer (defined beside the writer, in `sinks.writes`).

Re-exported here so source code reads `from harvester.pages import PageWrite`.
"""

from sinks.writes import EntryPage, Landed, PageWrite, Reject, Row, SnapshotWrite
from state.partitions import Checkpoint

__all__ = ["Checkpoint", "EntryPage", "Landed", "PageWrite", "Reject", "Row", "SnapshotWrite"]

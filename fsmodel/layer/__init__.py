"""Container image layers: tar bytes in, typed frozen operations out.

* :class:`Reader` — the sans-I/O reader: feed it the uncompressed tar stream
  in any chunks, pull :mod:`~fsmodel.layer.ops` events; it never touches a
  filesystem. :func:`iter_layer` drives one over bytes, a file or chunks.
* :mod:`fsmodel.layer.ops` — what a layer asks for (:class:`File`,
  :class:`Directory`, :class:`Symlink`, :class:`Hardlink`, :class:`Device`,
  :class:`Fifo`, :class:`Whiteout`, :class:`Opaque`, :class:`AufsMetadata`),
  file content as :class:`Data` chunks, and :class:`EndOfLayer`.
* :class:`MalformedLayer` — the archive's fault, with entry index and offset.
* :class:`Limits` — the bounds that keep memory and work finite.
"""

from .errors import MalformedLayer
from .ops import (
    XATTR_ENCODINGS,
    AufsMetadata,
    Data,
    Device,
    Directory,
    EndOfLayer,
    Entry,
    Event,
    Fifo,
    File,
    Hardlink,
    Opaque,
    Symlink,
    Whiteout,
    Xattr,
)
from .reader import NEED_DATA, Limits, Reader, iter_layer

__all__ = [
    "NEED_DATA",
    "XATTR_ENCODINGS",
    "AufsMetadata",
    "Data",
    "Device",
    "Directory",
    "EndOfLayer",
    "Entry",
    "Event",
    "Fifo",
    "File",
    "Hardlink",
    "Limits",
    "MalformedLayer",
    "Opaque",
    "Reader",
    "Symlink",
    "Whiteout",
    "Xattr",
    "iter_layer",
]

"""The layer reader's one error: the archive is at fault."""

__all__ = ["MalformedLayer"]


class MalformedLayer(Exception):
    """The layer's bytes are not a tar archive this reader accepts.

    Raised by :class:`fsmodel.layer.Reader` (and :func:`fsmodel.layer.iter_layer`)
    for every problem in the input: a bad checksum or number, a PAX record that
    breaks the ``"%d %s=%s\\n"`` grammar, an unsupported entry type (GNU sparse,
    dumpdirs, volume labels), a stream that ends in the middle of a header or of
    a file's content, or a :class:`~fsmodel.layer.Limits` bound exceeded. No
    other exception type ever comes out of the reader for any input bytes.

    Whose fault: the archive's, never the caller's or the filesystem's. The
    layer is corrupt, truncated, hostile, or uses a tar feature container
    layers never need. Do not apply any part of it. If the layer comes from a
    trusted source and only a limit is in the way (the message names the
    ``Limits`` field), read it again with a larger limit.

    Attributes:
        index: 0-based index of the entry being read (extension headers such
            as PAX ``x`` or GNU ``L`` belong to the entry they precede).
        offset: byte offset, in the uncompressed tar stream, where the
            offending header block or PAX record starts.
        reason: what is wrong, in one line.

    ``str(exc)`` reads ``"entry 3 at byte 1536: <reason>"``.
    """

    def __init__(self, index: int, offset: int, reason: str):
        super().__init__(index, offset, reason)
        self.index = index
        self.offset = offset
        self.reason = reason

    def __str__(self) -> str:
        return f"entry {self.index} at byte {self.offset}: {self.reason}"

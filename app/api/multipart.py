"""Splitting a multipart/form-data body (RFC 7578) into its parts while it streams in.

python-multipart's parser walks a state machine in Python and calls back a dozen times per
part; for a study (hundreds of parts of 100+ KB) that machinery cost the event loop more than
the search for the boundary itself (bench/bench_upload.py times the reader). Here each chunk is
searched for the delimiter with `bytes.find`, the data between delimiters is handed on as
zero-copy memoryviews of the chunks received, and a part's header block as bytes. Bytes are
copied only where a delimiter or a header block straddles two chunks. Header values are
interpreted by the caller.
"""

from typing import Protocol

MAX_HEADER_BLOCK_BYTES = 16 * 1024  # a part's headers; a file name is the longest of them


class MultipartSyntaxError(ValueError):
    """The body is not a well-formed multipart body."""


class PartHandler(Protocol):
    def part_headers(self, block: bytes) -> None:
        """A part begins: its header lines, CRLF-separated, without the blank line."""

    def part_data(self, data: memoryview) -> None:
        """The next piece of the current part's data (valid for as long as it is kept)."""

    def part_end(self) -> None:
        """The current part's data is complete."""


_PREAMBLE, _HEADERS, _DATA, _DONE = "preamble", "headers", "data", "done"


class MultipartSplitter:
    """Feed the body's chunks in order (`feed`); `complete` once the closing delimiter came.
    Raises MultipartSyntaxError on a malformed body. What follows the closing delimiter (the
    epilogue) is ignored, as RFC 2046 says."""

    def __init__(self, boundary: bytes, handler: PartHandler) -> None:
        if not 0 < len(boundary) <= 70 or b"\r" in boundary or b"\n" in boundary:
            raise MultipartSyntaxError("the boundary must be 1 to 70 characters, without CR or LF")
        self._delimiter = b"\r\n--" + boundary
        self._handler = handler
        self._state = _PREAMBLE
        # The bytes of an unfinished delimiter or header block, kept for the next chunk. The
        # body may open with the first delimiter without the CRLF before it: supply one.
        self._carried = b"\r\n"

    @property
    def complete(self) -> bool:
        return self._state is _DONE

    def feed(self, chunk: bytes) -> None:
        if self._state is _DONE:
            return
        data = self._carried + chunk if self._carried else chunk
        self._carried = b""
        position = 0
        while position < len(data) and self._state is not _DONE:
            if self._state is _HEADERS:
                position = self._read_headers(data, position)
            else:
                position = self._read_to_delimiter(data, position)

    def _read_to_delimiter(self, data: bytes, position: int) -> int:
        """Preamble or part data up to the next delimiter. Returns where to go on, or the end of
        `data` once the rest has been handed on or carried."""
        delimiter = self._delimiter
        found = data.find(delimiter, position)
        if found < 0:
            # A delimiter that starts in this chunk and ends in the next begins with the last
            # CR here: the boundary itself holds no CR (RFC 2046).
            tail = data.rfind(b"\r", max(position, len(data) - len(delimiter) + 1))
            if tail < 0 or not delimiter.startswith(data[tail:]):
                tail = len(data)
            self._hand_on(data, position, tail)
            self._carried = data[tail:]
            return len(data)
        after = found + len(delimiter)
        if after + 2 > len(data):  # what follows the delimiter is not in yet
            self._hand_on(data, position, found)
            self._carried = data[found:]
            return len(data)
        self._hand_on(data, position, found)
        if self._state is _DATA:
            self._handler.part_end()
        ending = data[after : after + 2]
        if ending == b"--":
            self._state = _DONE
            return len(data)
        if ending != b"\r\n":
            raise MultipartSyntaxError("a boundary is followed by neither CRLF nor --")
        self._state = _HEADERS
        return after  # at the CRLF that ends the delimiter line

    def _hand_on(self, data: bytes, start: int, end: int) -> None:
        if self._state is _DATA and end > start:
            self._handler.part_data(memoryview(data)[start:end])

    def _read_headers(self, data: bytes, position: int) -> int:
        """From the CRLF ending a delimiter line to the blank line ending the part's headers
        (a part without headers has the blank line right away)."""
        end = data.find(b"\r\n\r\n", position)
        if (len(data) if end < 0 else end) - position > MAX_HEADER_BLOCK_BYTES:
            raise MultipartSyntaxError(f"a part's headers exceed {MAX_HEADER_BLOCK_BYTES} bytes")
        if end < 0:
            self._carried = data[position:]
            return len(data)
        self._handler.part_headers(data[position + 2 : end])  # empty: no headers
        self._state = _DATA
        return end + 4

"""The multipart splitter: the same parts as python-multipart's parser on any body, however it is
chunked (delimiters, header blocks and look-alikes straddling chunks), zero-copy data, and a
typed error for each malformed body."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_multipart.multipart import MultipartParser

from app.api.multipart import MAX_HEADER_BLOCK_BYTES, MultipartSplitter, MultipartSyntaxError

BOUNDARY = b"b0undary"
DELIMITER = b"\r\n--" + BOUNDARY

Part = tuple[bytes, bytes]  # (header block, data)


class Recorder:
    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.views: list[memoryview] = []
        self._pieces: list[bytes] = []

    def part_headers(self, block: bytes) -> None:
        self.parts.append((block, b""))
        self._pieces = []

    def part_data(self, data: memoryview) -> None:
        self.views.append(data)
        self._pieces.append(bytes(data))

    def part_end(self) -> None:
        self.parts[-1] = (self.parts[-1][0], b"".join(self._pieces))


def split(body: bytes, cuts: list[int]) -> tuple[list[Part], bool, Recorder]:
    recorder = Recorder()
    splitter = MultipartSplitter(BOUNDARY, recorder)
    edges = [0, *sorted({c % (len(body) + 1) for c in cuts}), len(body)]
    for start, end in itertools.pairwise(edges):
        splitter.feed(body[start:end])
    return recorder.parts, splitter.complete, recorder


def oracle(body: bytes) -> list[Part]:
    """python-multipart's reading of the same body."""
    parts: list[Part] = []
    lines: list[bytes] = []
    field: list[bytes] = []
    value: list[bytes] = []
    data: list[bytes] = []

    def header_end() -> None:
        lines.append(b"".join(field) + b": " + b"".join(value))
        field.clear()
        value.clear()

    def part_end() -> None:
        parts.append((b"\r\n".join(lines), b"".join(data)))
        lines.clear()
        data.clear()

    callbacks = {
        "on_header_field": lambda d, s, e: field.append(d[s:e]),
        "on_header_value": lambda d, s, e: value.append(d[s:e]),
        "on_header_end": header_end,
        "on_part_data": lambda d, s, e: data.append(d[s:e]),
        "on_part_end": part_end,
    }
    parser = MultipartParser(BOUNDARY, callbacks)
    parser.write(body)
    parser.finalize()
    return parts


# Data rich in what a splitter can trip on: CRs, LFs, dashes and pieces of the delimiter.
data_bytes = st.lists(
    st.sampled_from([b"\r", b"\n", b"-", b"--", b"\r\n", b"x", b"\x00", DELIMITER[:-1], b"b0u"]),
    max_size=40,
).map(b"".join)
names = st.text(alphabet="abcdefghij._/ ", min_size=1, max_size=12)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    body = b""
    for name in draw(st.lists(names, min_size=1, max_size=4)):
        body += b"--" + BOUNDARY + b"\r\n"
        body += b'Content-Disposition: form-data; name="files"; filename="' + name.encode()
        body += b'"\r\nContent-Type: application/dicom\r\n\r\n' + draw(data_bytes) + b"\r\n"
    return body + b"--" + BOUNDARY + b"--\r\n" + draw(st.sampled_from([b"", b"epilogue"]))


@settings(max_examples=300, deadline=None)
@given(body=bodies(), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_same_parts_as_python_multipart_however_chunked(body: bytes, cuts: list[int]) -> None:
    parts, complete, _ = split(body, cuts)
    assert complete
    assert parts == oracle(body)


@given(body=bodies(), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_a_preamble_is_skipped(body: bytes, cuts: list[int]) -> None:
    """RFC 2046 allows text before the first delimiter (python-multipart refuses it)."""
    assert split(b"preamble \r\n-- b0und\r\n" + body, cuts)[0] == split(body, [])[0]


def test_data_is_handed_on_as_views_of_the_chunks_received() -> None:
    data = bytes(range(256)) * 100
    body = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + data
    body += DELIMITER + b"--\r\n"
    _, _, recorder = split(body, [])
    assert [bytes(view) for view in recorder.views] == [data]
    assert recorder.views[0].obj is not None and len(recorder.views[0].obj) == len(body) + 2


def test_a_part_without_headers_has_an_empty_header_block() -> None:
    parts, complete, _ = split(b"--" + BOUNDARY + b"\r\n\r\nabc" + DELIMITER + b"--", [5])
    assert complete and parts == [(b"", b"abc")]


def test_a_body_that_never_closes_is_not_complete() -> None:
    assert not split(b"--" + BOUNDARY + b"\r\nA: b\r\n\r\nabc", [])[1]
    assert not split(b"no delimiter at all", [3])[1]


@pytest.mark.parametrize(
    "body",
    [
        b"--" + BOUNDARY + b"junk\r\n",  # a boundary followed by neither CRLF nor --
        b"--" + BOUNDARY + b"\r\nA: b\r\n\r\nabc" + DELIMITER + b"??",
        b"--" + BOUNDARY + b"\r\n" + b"X" * (MAX_HEADER_BLOCK_BYTES + 10) + b"\r\n\r\n",
        b"--" + BOUNDARY + b"\r\n" + b"X" * (MAX_HEADER_BLOCK_BYTES + 10),  # still coming
    ],
)
def test_malformed_bodies_raise(body: bytes) -> None:
    with pytest.raises(MultipartSyntaxError):
        split(body, [7])


@pytest.mark.parametrize("boundary", [b"", b"a\rb", b"a\nb", b"x" * 71])
def test_invalid_boundaries_are_refused(boundary: bytes) -> None:
    with pytest.raises(MultipartSyntaxError):
        MultipartSplitter(boundary, Recorder())

"""JSON as OVMS's rapidjson reads and writes it: parse errors, compact and pretty writers.

Reading follows `parseJsonWithDepthLimit` (src/utils/rapidjson_utils.cpp): rapidjson's own
parser (python-rapidjson, which tritonclient installs) gives the error text and offset; the text
ends at the first NUL byte, as a C string does; a member name found twice answers with its first
value (rapidjson's FindMember). Writing follows rapidjson's `Writer` (compact: errors, model
metadata) and `PrettyWriter` with `kFormatSingleLineArray` (infer responses): 4-space indent,
arrays on one line, doubles in rapidjson's shortest form (`1.0`, `1e-7`, `1e21`). It is written
here because python-rapidjson formats doubles with Python's repr (`1e-07`), not rapidjson's.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import rapidjson

MAX_NESTING_DEPTH = 100  # rest_parser.cpp
_PARSE_ERROR = re.compile(r"Parse error at offset (\d+): (.*)", re.DOTALL)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENING = np.frombuffer(b"[{", np.uint8)
_CLOSING = np.frombuffer(b"]}", np.uint8)


class JsonObject(dict[str, Any]):
    """A JSON object: first value of each name (FindMember) plus every member in order."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        for key, value in pairs:
            self.setdefault(key, value)
        self.pairs = pairs


class _Decoder(rapidjson.Decoder):
    """python-rapidjson building JsonObjects (every member kept, duplicates included)."""

    def start_object(self) -> list[tuple[str, Any]]:
        """Collect an object's members as pairs."""
        return []

    def end_object(self, pairs: list[tuple[str, Any]]) -> JsonObject:
        """The collected pairs as a JsonObject."""
        return JsonObject(pairs)


_DECODE = _Decoder(number_mode=rapidjson.NM_NONE, parse_mode=rapidjson.PM_NONE)


class JsonParseError(Exception):
    """The text is not valid JSON: `details` as OVMS words them (`Error: ... Offset: N`)."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


class JsonTooDeep(Exception):
    """Objects and arrays nested deeper than MAX_NESTING_DEPTH."""


def _depth_exceeded(text: bytes) -> bool:
    """Whether the brackets of JSON text (strings skipped) open deeper than MAX_NESTING_DEPTH."""
    if text.count(b"[") + text.count(b"{") <= MAX_NESTING_DEPTH:
        return False
    bare = _STRING.sub(b"", text).split(b'"', 1)[0]  # an unterminated string ends the scan
    codes = np.frombuffer(bare, np.uint8)
    steps = np.isin(codes, _OPENING).astype(np.int64) - np.isin(codes, _CLOSING)
    return bool(steps.size) and int(np.cumsum(steps).max()) > MAX_NESTING_DEPTH


def parse_json(raw: bytes) -> Any:
    """The JSON value of `raw` (up to its first NUL); JsonParseError or JsonTooDeep otherwise."""
    text = raw.split(b"\0", 1)[0]
    try:
        value = _DECODE(text)
    except rapidjson.JSONDecodeError as error:
        match = _PARSE_ERROR.fullmatch(str(error))
        offset, message = (int(match[1]), match[2]) if match else (0, str(error))
        if _depth_exceeded(text[:offset]):  # OVMS's depth scan stops first
            raise JsonTooDeep() from error
        raise JsonParseError(f"Error: {message} Offset: {offset}") from error
    except UnicodeDecodeError:
        # rapidjson does not validate UTF-8; Python strings need it: bad bytes become U+FFFD.
        return parse_json(text.decode("utf-8", "replace").encode())
    if _depth_exceeded(text):
        raise JsonTooDeep()
    return value


_ESCAPES = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r"}
_ESCAPES.update({0x22: b'\\"', 0x5C: b"\\\\"})
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\]')


def _escape(match: re.Match[bytes]) -> bytes:
    """rapidjson's escape of one byte: short forms, else `\\u00XX` in upper-case hex."""
    byte = match[0][0]
    return _ESCAPES.get(byte, b"\\u%04X" % byte)


def write_string(value: str | bytes, c_str: bool = True) -> bytes:
    """A JSON string as rapidjson writes it (no UTF-8 check; `c_str` stops at a NUL as OVMS)."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if c_str:
        data = data.split(b"\0", 1)[0]
    return b'"' + _NEEDS_ESCAPE.sub(_escape, data) + b'"'


def format_double(value: float) -> str:
    """A double as rapidjson's Writer::Double (Grisu2 digits, `Prettify`); NaN and inf by name."""
    # OVMS's writer refuses them (no kWriteNanAndInfFlag) and leaves a hole, which is invalid JSON;
    # rapidjson's names for them with that flag are read by tritonclient (python-rapidjson).
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    if 1e-4 <= magnitude < 1e16:
        return repr(value)  # Python's fixed form is rapidjson's here ("100.0", "0.00012")
    _, digit_tuple, exponent = Decimal(repr(magnitude)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    length, k = len(digits), exponent
    kk = length + k  # 10^(kk-1) <= value < 10^kk
    if k >= 0 and kk <= 21:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 21:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -6 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    if length == 1:
        return f"{sign}{digits}e{kk - 1}"
    return f"{sign}{digits[0]}.{digits[1:]}e{kk - 1}"


def _scalar(value: object) -> bytes:
    """One JSON scalar: bool, int, float (as a double), string or bytes (raw), or null."""
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return format_double(value).encode()
    if isinstance(value, str | bytes):
        return write_string(value, c_str=not isinstance(value, bytes))
    if value is None:
        return b"null"
    raise TypeError(f"not a JSON scalar: {type(value).__name__}")


def _compact_parts(value: object) -> Iterator[bytes]:
    """The pieces of rapidjson's compact Writer output."""
    if isinstance(value, Mapping):
        yield b"{"
        for index, (key, item) in enumerate(value.items()):
            yield b"," + write_string(key) + b":" if index else write_string(key) + b":"
            yield from _compact_parts(item)
        yield b"}"
    elif isinstance(value, list | tuple):
        yield b"["
        for index, item in enumerate(value):
            if index:
                yield b","
            yield from _compact_parts(item)
        yield b"]"
    else:
        yield _scalar(value)


def compact(value: object) -> bytes:
    """`value` as rapidjson's Writer writes it: no whitespace at all."""
    return b"".join(_compact_parts(value))


def _pretty_parts(value: object, level: int) -> Iterator[bytes]:
    """The pieces of PrettyWriter output (kFormatSingleLineArray) for a value at `level`."""
    if isinstance(value, Mapping):
        if not value:
            yield b"{}"
            return
        indent = b" " * (4 * (level + 1))
        yield b"{"
        for index, (key, item) in enumerate(value.items()):
            yield (b",\n" if index else b"\n") + indent + write_string(key) + b": "
            yield from _pretty_parts(item, level + 1)
        yield b"\n" + b" " * (4 * level) + b"}"
    elif isinstance(value, list | tuple):
        if not any(isinstance(item, Mapping | list | tuple) for item in value):
            yield b"[" + b", ".join(map(_scalar, value)) + b"]"
            return
        yield b"["
        for index, item in enumerate(value):
            if index:
                yield b", "
            yield from _pretty_parts(item, level + 1)
        yield b"]"
    else:
        yield _scalar(value)


def pretty(value: object) -> bytes:
    """`value` as rapidjson's PrettyWriter with kFormatSingleLineArray writes it."""
    return b"".join(_pretty_parts(value, 0))

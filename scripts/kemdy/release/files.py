"""A segment's own files: the wav (checked from its RIFF header, without decoding) and the
one-line transcript. Each check returns what it found and, if the file is unusable, a
(kind, message) problem; the reader decides whether that stops it or skips the segment."""

from __future__ import annotations

import os
import re
from pathlib import Path

import soundfile as sf

WAV_FORMATS = {1: "PCM", 3: "FLOAT", 6: "ALAW", 7: "ULAW"}  # RIFF format tags
MIN_SECONDS = 0.05
# Control characters no transcript holds (tab, newlines, VT and FF aside): NUL bytes decode
# as UTF-8 and would otherwise become a segment's text.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


def read_wav_header(path: Path) -> dict | None:
    """The fmt and data chunks of a RIFF/WAVE file, or None if it is not a plain one.

    Cheaper than soundfile.info (about 3x) and it also sees truncation: a truncated wav
    declares a data chunk longer than the file holds, which libsndfile reads silently.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # RF64, other containers, garbage: soundfile decides
        header, pos = {"file_size": size}, 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, length = chunk[:4], int.from_bytes(chunk[4:], "little")
            if cid == b"fmt ":
                fmt = f.read(min(length, 40))
                if len(fmt) < 16:
                    return None
                tag = int.from_bytes(fmt[0:2], "little")
                if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: tag of the subformat
                    tag = int.from_bytes(fmt[24:26], "little")
                header.update(tag=tag, channels=int.from_bytes(fmt[2:4], "little"),
                              sample_rate=int.from_bytes(fmt[4:8], "little"),
                              block_align=int.from_bytes(fmt[12:14], "little"),
                              bits=int.from_bytes(fmt[14:16], "little"))
            elif cid == b"data":
                header.update(data_offset=pos + 8, data_size=length)
                break
            pos += 8 + length + (length & 1)
    return header if "tag" in header and header.get("block_align") else None


def _sound_facts(path: Path) -> tuple[dict | None, tuple[str, str] | None]:
    """(rate, channels, frames, subtype) of a wav, or the problem that hides them."""
    try:
        header = read_wav_header(path)
    except OSError as err:
        return None, ("unreadable", f"unreadable wav ({err.strerror})")
    if header is None:  # not a plain RIFF/WAVE: let libsndfile judge it
        try:
            info = sf.info(str(path))
        except Exception as err:  # soundfile raises RuntimeError / LibsndfileError / others
            return None, ("unreadable", f"unreadable wav ({str(err).strip() or type(err).__name__})")
        return {"rate": info.samplerate, "channels": info.channels, "frames": info.frames,
                "subtype": info.subtype}, None
    if "data_size" not in header:
        return None, ("truncated", "truncated wav: no data chunk")
    held = header["file_size"] - header["data_offset"]
    if header["data_size"] > held:
        return None, ("truncated", f"truncated wav: the data chunk declares {header['data_size']} "
                                   f"bytes, the file holds {held}")
    tag, bits = header["tag"], header["bits"]
    subtype = WAV_FORMATS.get(tag, f"format tag {tag}")
    if tag == 1:
        subtype = f"PCM_{bits}"  # soundfile's names: PCM_16, PCM_24, ...
    elif tag == 3:
        subtype = "FLOAT" if bits == 32 else "DOUBLE"
    return {"rate": header["sample_rate"], "channels": header["channels"],
            "frames": header["data_size"] // header["block_align"], "subtype": subtype}, None


def check_wav(path: Path, sample_rate: int) -> tuple[dict, tuple[str, str] | None]:
    """(sample_rate, duration) of one wav, or (kind, message) of what makes it unusable."""
    sound, problem = _sound_facts(path)
    if problem:
        return {}, problem
    rate, frames = sound["rate"], sound["frames"]
    facts = {"sample_rate": rate, "duration": round(frames / rate, 4) if rate else 0.0}
    if rate != sample_rate:
        return facts, ("sample_rate", f"sample rate {rate} Hz, expected {sample_rate} Hz")
    if sound["channels"] != 1:
        return facts, ("channels", f"{sound['channels']} channels, expected mono")
    if sound["subtype"] != "PCM_16":
        return facts, ("sample_format",
                       f"sample format {sound['subtype']}, expected 16-bit PCM (PCM_16)")
    if frames < MIN_SECONDS * rate:  # a cut-off recording; the audio encoders need >= 25 ms
        return facts, ("empty", f"wav holds {frames} samples, under {MIN_SECONDS} s: no speech")
    return facts, None


def decode_transcript(data: bytes) -> tuple[str, str]:
    """(text, encoding). cp949 is KEMDy20's; UTF-8 with Hangul wins when both decode, because
    UTF-8 Korean usually decodes as cp949 too, into nonsense."""
    candidates = {}
    for encoding in ("utf-8-sig", "cp949"):
        try:
            candidates[encoding] = data.decode(encoding)
        except UnicodeDecodeError:
            pass
    utf8 = candidates.get("utf-8-sig")
    if utf8 is not None and (utf8.isascii() or re.search("[\uac00-\ud7a3]", utf8)
                             or "cp949" not in candidates):
        return utf8, "cp949" if utf8.isascii() else "utf-8"
    if "cp949" in candidates:
        return candidates["cp949"], "cp949"
    raise UnicodeDecodeError("cp949", data, 0, len(data), "neither cp949 nor UTF-8")


def read_transcript(path: Path) -> tuple[str | None, str | None, tuple[str, str] | None]:
    """(text_raw, encoding, problem) of one transcript: its lines joined into one."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, None, ("unreadable", f"unreadable transcript ({err.strerror})")
    try:
        text, encoding = decode_transcript(data)
    except UnicodeDecodeError:
        return None, None, ("encoding", "transcript is neither cp949 nor UTF-8 text")
    control = _CONTROL.search(text)
    if control:
        return None, None, ("encoding", f"transcript holds control byte "
                                        f"0x{ord(control.group()):02x} (at character "
                                        f"{control.start() + 1}): not text")
    raw = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if not raw:
        return None, None, ("empty", "empty transcript")
    return raw, encoding, None

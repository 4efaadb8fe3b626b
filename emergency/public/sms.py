"""How an SMS text is cut into parts: GSM-7 for plain Latin text, UCS-2 for anything else (Chinese).

A gateway bills and delivers per part, so templates are checked against these rules. A single
GSM-7 message holds 160 septets and each part of a longer one 153 (the rest is the concatenation
header); UCS-2 holds 70 UTF-16 code units, 67 per part. Characters of the GSM-7 extension table
take two septets (an escape and the character), and neither an escape pair nor a UTF-16 surrogate
pair is ever split across two parts.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsEncoding:
    name: str  # "gsm7" or "ucs2"
    single: int  # capacity of a message sent in one part
    part: int  # capacity of each part of a longer message


GSM7 = SmsEncoding("gsm7", GSM7_SINGLE, GSM7_PART)
UCS2 = SmsEncoding("ucs2", UCS2_SINGLE, UCS2_PART)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def encoding_for(text: str) -> SmsEncoding:
    return GSM7 if is_gsm7(text) else UCS2


def _units(ch: str, encoding: SmsEncoding) -> int:
    """What one character costs: septets in GSM-7, UTF-16 code units in UCS-2."""
    if encoding is GSM7:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def sms_length(text: str) -> int:
    """Length in the units of the text's encoding (septets or UTF-16 code units)."""
    encoding = encoding_for(text)
    return sum(_units(ch, encoding) for ch in text)


def sms_segments(text: str) -> list[str]:
    """The parts this text is sent as, in order; an empty text is still one (empty) message."""
    encoding = encoding_for(text)
    if sms_length(text) <= encoding.single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _units(ch, encoding)
        if used + cost > encoding.part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    if current:
        parts.append("".join(current))
    return parts

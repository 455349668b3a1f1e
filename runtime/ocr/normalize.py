"""OCR letter-for-digit confusions undone (``2O24`` -> ``2024``); ``values`` reads the values."""

from __future__ import annotations

# --------------------------------------------------------------------------- OCR confusions

_TO_DIGIT = {"O": "0", "o": "0", "Q": "0", "D": "0", "l": "1", "I": "1", "|": "1", "i": "1"}
_TO_DIGIT_WEAK = {"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"}


def fix_digits(token: str) -> str:
    """Undo OCR letter-for-digit confusions inside the digit runs of one token.

    A confusable letter becomes a digit when digits sit on both sides of it, or when it ends
    a run whose other characters are all digits: ``2O24`` → ``2024``, ``l05`` → ``105``, but
    ``INV`` and ``SO12`` keep their letters.
    """
    chars = list(token)
    digits = sum(ch.isdigit() for ch in chars)
    mostly_digits = digits >= 2 * sum(ch.isalpha() or ch == "|" for ch in chars)
    for index, ch in enumerate(chars):
        if ch not in _TO_DIGIT:
            continue
        before = chars[index - 1] if index > 0 else ""
        after = chars[index + 1] if index + 1 < len(chars) else ""
        if before.isdigit() and after.isdigit():
            chars[index] = _TO_DIGIT[ch]
            continue
        if ch not in _TO_DIGIT_WEAK:
            continue
        run_start = index
        while run_start > 0 and chars[run_start - 1].isalnum():
            run_start -= 1
        run_end = index + 1
        while run_end < len(chars) and chars[run_end].isalnum():
            run_end += 1
        others = chars[run_start:index] + chars[index + 1 : run_end]
        at_edge = index in (run_start, run_end - 1)
        # One digit beside it is enough when the token is mostly digits ("1,200.5O").
        needed = 1 if mostly_digits else 2
        if at_edge and len(others) >= needed and all(c.isdigit() for c in others):
            chars[index] = _TO_DIGIT_WEAK[ch]
    return "".join(chars)


def fix_line_digits(line: str) -> str:
    """Apply :func:`fix_digits` to each space-separated token of a line."""
    return " ".join(fix_digits(token) for token in line.split(" "))

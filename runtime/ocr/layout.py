"""Rebuild reading lines from word boxes: words whose boxes share a band of the page."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.ocr.results import WordBox


def _median_height(words: list[WordBox]) -> float:
    """The median word height in pixels (the upper one of an even count); 0 without words."""
    heights = sorted(word.height for word in words)
    return float(heights[len(heights) // 2]) if heights else 0.0


def group_lines(words: list[WordBox]) -> list[list[WordBox]]:
    """Group word boxes into visual lines, top to bottom, each line left to right.

    A word joins a line when its vertical centre falls inside the line's band; this keeps a
    label and its value on one line even when an engine reads them as separate columns.
    """
    lines: list[tuple[float, float, list[WordBox]]] = []  # (top, bottom, words)
    # A box many lines tall (a PDF's rotated or broken text: "(EUR)" 7395 px high) would
    # swallow every line into one; it stands on its own line.
    tallest = 8 * _median_height(words)
    for word in sorted(words, key=lambda w: (w.top + w.height / 2, w.left)):
        centre = word.top + word.height / 2
        if word.height > tallest:
            lines.append((centre, centre - 1, [word]))  # an empty band: nothing joins it
            continue
        for index, (top, bottom, members) in enumerate(lines):
            if top <= centre <= bottom:
                members.append(word)
                # Grow the band only a little, so a tall word cannot swallow the next line.
                lines[index] = (
                    min(top, word.top + word.height * 0.25),
                    max(bottom, word.top + word.height * 0.75),
                    members,
                )
                break
        else:
            lines.append((word.top + word.height * 0.2, word.top + word.height * 0.8, [word]))
    lines.sort(key=lambda line: line[0])
    return [sorted(members, key=lambda w: w.left) for _, _, members in lines]


def lines_text(words: list[WordBox]) -> list[str]:
    """Return the text of each visual line, words joined by single spaces."""
    return [
        " ".join(word.text for word in line if word.text.strip()) for line in group_lines(words)
    ]


@dataclass
class DocLine:
    """One visual line of a document, with its words' boxes when the reader gave them.

    ``offsets[i]`` is where word ``i`` starts in ``text``. Lines from plain text (no boxes)
    have no words; box-based questions then answer with the whole line.
    """

    page: int
    index: int  # order in the document, 0-based
    text: str
    words: list[WordBox] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    page_height: int = 0

    @property
    def height(self) -> float:
        """Median word height in pixels (0 without boxes): the line's font size."""
        return _median_height(self.words)

    @property
    def top(self) -> int:
        """Top edge in pixels (0 without boxes)."""
        return min((word.top for word in self.words), default=0)

    @property
    def confidence(self) -> float:
        """Mean word confidence, 0..100 (100 without boxes)."""
        if not self.words:
            return 100.0
        return sum(word.confidence for word in self.words) / len(self.words)

    def span_words(self, start: int, end: int) -> list[WordBox]:
        """The words overlapping the characters ``start:end`` of ``text``."""
        found = []
        for word, offset in zip(self.words, self.offsets, strict=True):
            if offset < end and start < offset + len(word.text):
                found.append(word)
        return found

    def span_confidence(self, start: int, end: int) -> float:
        """Mean confidence (0..100) of the words under ``start:end``; 100 without boxes."""
        words = self.span_words(start, end)
        return sum(w.confidence for w in words) / len(words) if words else self.confidence

    def span_x(self, start: int, end: int) -> tuple[int, int] | None:
        """Left and right pixel edges of the characters ``start:end``, or None without boxes."""
        words = self.span_words(start, end)
        if not words:
            return None
        return min(w.left for w in words), max(w.left + w.width for w in words)

    def cells(self) -> list[tuple[int, int]]:
        """``start:end`` spans of the line's columns: words split where a gap is wider than
        twice the line's height. Without boxes the whole line is one cell."""
        if not self.words:
            return [(0, len(self.text))]
        gap = max(2.0 * self.height, 1.0)
        spans: list[tuple[int, int]] = []
        first = 0
        for i in range(1, len(self.words) + 1):
            last = self.words[i - 1]
            if i == len(self.words) or self.words[i].left - (last.left + last.width) > gap:
                spans.append((self.offsets[first], self.offsets[i - 1] + len(last.text)))
                first = i
        return spans

    def text_between(self, left: float, right: float) -> tuple[str, int, int] | None:
        """The words whose boxes overlap the columns ``left..right``, as text with offsets.

        Returns ``(text, start, end)`` into ``self.text`` so callers can ask about the span,
        or None when no word is there. Without boxes the whole line answers.
        """
        if not self.words:
            return (self.text, 0, len(self.text)) if self.text else None
        chosen = [
            i
            for i, word in enumerate(self.words)
            if word.left < right and left < word.left + word.width
        ]
        if not chosen:
            return None
        start = self.offsets[chosen[0]]
        end = self.offsets[chosen[-1]] + len(self.words[chosen[-1]].text)
        return self.text[start:end], start, end


def page_lines(
    words: list[WordBox], page: int, first_index: int, page_height: int = 0
) -> list[DocLine]:
    """Build :class:`DocLine` objects from one page's word boxes, top to bottom."""
    lines: list[DocLine] = []
    for members in group_lines([w for w in words if w.text.strip()]):
        gap = max(2.0 * _median_height(members), 1.0)
        offsets, text = [], ""
        for before, word in zip([None, *members], members, strict=False):
            if before is not None:
                # Two spaces between a table's cells, so that no reading joins across them
                # ("19" in the rate column and "163,16" in the next are not "19 163,16").
                wide = word.left - (before.left + before.width) > gap
                text += "  " if wide else " "
            offsets.append(len(text))
            text += word.text
        lines.append(
            DocLine(
                page=page,
                index=first_index + len(lines),
                text=text,
                words=members,
                offsets=offsets,
                page_height=page_height,
            )
        )
    return lines


def text_lines(raw: list[str], page: int = 1, first_index: int = 0) -> list[DocLine]:
    """Build box-less :class:`DocLine` objects from plain text lines (blank lines dropped)."""
    cleaned = [" ".join(line.split()) for line in raw]
    return [
        DocLine(page=page, index=first_index + i, text=line)
        for i, line in enumerate(line for line in cleaned if line)
    ]

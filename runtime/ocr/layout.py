"""Rebuild reading lines from word boxes: words whose boxes share a band of the page."""

from __future__ import annotations

from runtime.ocr.results import WordBox


def group_lines(words: list[WordBox]) -> list[list[WordBox]]:
    """Group word boxes into visual lines, top to bottom, each line left to right.

    A word joins a line when its vertical centre falls inside the line's band; this keeps a
    label and its value on one line even when an engine reads them as separate columns.
    """
    lines: list[tuple[float, float, list[WordBox]]] = []  # (top, bottom, words)
    for word in sorted(words, key=lambda w: (w.top + w.height / 2, w.left)):
        centre = word.top + word.height / 2
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

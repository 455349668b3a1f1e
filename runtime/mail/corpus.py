"""The labelled mail corpus the classifier is trained and measured on, generated from phrases.

Each mail of a class is put together from that class's subject and sentence templates in one
language (``runtime.mail.phrases_<lang>``), filled with invented names, companies, amounts,
dates and numbers in the language's formats, and made noisy: reply prefixes, typos, missing
greetings, class-neutral filler sentences, a sentence in another language, a quoted line of
an unrelated mail, disclaimers and shouting subjects.

Templates come in groups of paraphrases (one thing a mail of the class says, said three
ways); the third of each group is held out, and so is every sixth group whole, so that the
held-out mails also say things no training mail says (:func:`held_out`).
``generate(n, seed, "train")`` never uses a held-out template and
``generate(n, seed, "heldout")`` uses only those, so the held-out figures measure mails whose
wording the model has not seen.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from runtime.mail import phrases_en, phrases_es, phrases_fr
from runtime.mail.classify import CLASSES

__all__ = ["LANGUAGES", "LabelledMail", "Split", "digest", "generate", "held_out"]

Split = Literal["train", "heldout"]
LANGUAGES: dict[str, ModuleType] = {"en": phrases_en, "es": phrases_es, "fr": phrases_fr}
_LANGUAGE_SHARE = {"en": 0.4, "es": 0.4, "fr": 0.2}  # French has fewer phrases
TRAIN_SEED = 1
HELDOUT_SEED = 2
_HELD_OUT = 2  # the index, in each group of paraphrases, of the one held out
_HELD_OUT_GROUPS = 6  # ... and every sixth group is held out whole

_FIRST = ["Ana", "John", "María", "Peter", "Lucía", "Sarah", "Javier", "Emma", "Carlos", "Laura",
          "David", "Sofía", "Michael", "Elena", "James", "Pablo", "Olivia", "Marta", "Tom", "Inés"]
_LAST = ["García", "Smith", "Martínez", "Brown", "López", "Johnson", "Sánchez", "Taylor",
         "Fernández", "Wilson", "Ruiz", "Clark", "Moreno", "Walker", "Romero", "Hall"]
_COMPANY = ["Acme Corp", "Suministros Iberia S.L.", "Northwind Traders", "Globex Ltd",
            "Papelería Central S.A.", "Initech", "Contoso", "Talleres Ruiz S.L.", "Umbrella Inc",
            "Hosting Norte", "Blue Sky Logistics", "Distribuciones Levante", "Fabrikam"]
_PRODUCT = ["laptop", "printer", "headphones", "cloud storage", "office chairs", "toner",
            "coffee machine", "software licence", "monitor", "smartphone", "web hosting",
            "router", "consulting", "maintenance", "desk lamp"]
_MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
}
_DOMAINS = ["deals-now.biz", "promo.example.com", "secure-login.info", "shop.example.org"]


@dataclass(frozen=True)
class LabelledMail:
    """One generated mail: subject, body, its class (one of ``CLASSES``) and language."""

    subject: str
    body: str
    label: str
    language: str


def _amount(rng: random.Random, lang: str) -> str:
    value = rng.choice([rng.uniform(5, 200), rng.uniform(200, 20000)])
    whole, cents = f"{value:,.2f}".split(".")
    if lang == "es":
        return f"{whole.replace(',', '.')},{cents} {rng.choice(['€', 'EUR'])}"
    if lang == "fr":
        return f"{whole.replace(',', ' ')},{cents} {rng.choice(['€', 'EUR'])}"
    symbol = rng.choice(["€", "$", "£"])
    return rng.choice([f"{symbol}{whole}.{cents}", f"{whole}.{cents} EUR"])


def _date(rng: random.Random, lang: str) -> str:
    year, month, day = rng.randint(2023, 2026), rng.randint(1, 12), rng.randint(1, 28)
    name = _MONTHS[lang][month - 1]
    spelled = {
        "es": f"{day} de {name} de {year}",
        "fr": f"{day} {name} {year}",
    }.get(lang, f"{name} {day}, {year}")
    return rng.choice([spelled, f"{day:02d}/{month:02d}/{year}", f"{year}-{month:02d}-{day:02d}"])


def _entities(rng: random.Random, lang: str) -> dict[str, Any]:
    year = rng.randint(2023, 2026)
    invoice = rng.choice([
        f"INV-{year}-{rng.randint(1, 9999):04d}", f"F{year}/{rng.randint(1, 999)}",
        f"FAC-{rng.randint(100, 99999):05d}", f"A-{rng.randint(1000, 9999)}",
        f"{rng.randint(10000, 999999)}",
    ])
    return {
        "name": rng.choice(_FIRST),
        "sender": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        "company": rng.choice(_COMPANY),
        "amount": _amount(rng, lang),
        "invoice": invoice,
        "date": _date(rng, lang),
        "order": f"{rng.choice(['', '#', 'PO-', 'ORD-'])}{rng.randint(10000, 9999999)}",
        "product": rng.choice(_PRODUCT),
        "days": rng.choice([7, 10, 14, 15, 30, 45, 60, 90]),
        "ticket": rng.randint(1000, 99999),
        "url": f"http://{rng.choice(_DOMAINS)}/{rng.randint(100, 999)}",
        "month": rng.choice(_MONTHS[lang]),
        "percent": rng.choice([10, 20, 25, 30, 50, 70]),
    }


def _is_held_out(group: int, paraphrase: int) -> bool:
    return paraphrase == _HELD_OUT or group % _HELD_OUT_GROUPS == _HELD_OUT_GROUPS - 1


def held_out(groups: list[list[str]]) -> list[str]:
    """The held-out templates of groups of paraphrases: the third of each, every sixth whole."""
    return [t for g, group in enumerate(groups) for p, t in enumerate(group) if _is_held_out(g, p)]


def _pick(groups: list[list[str]], split: Split) -> list[str]:
    """The templates of one split."""
    if split == "heldout":
        return held_out(groups)
    return [
        t for g, group in enumerate(groups) for p, t in enumerate(group) if not _is_held_out(g, p)
    ]


def _typos(rng: random.Random, text: str, count: int) -> str:
    chars = list(text)
    for _ in range(count):
        if len(chars) < 4:
            break
        i = rng.randrange(1, len(chars) - 1)
        if not chars[i].isalpha():
            continue
        op = rng.random()
        if op < 0.4:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op < 0.7:
            del chars[i]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def _mail(rng: random.Random, label: str, lang: str, split: Split) -> LabelledMail:
    phrases = LANGUAGES[lang]
    pools = phrases.CLASSES[label]
    values = _entities(rng, lang)
    subject = rng.choice(_pick(pools["subjects"], split)).format(**values)
    sentences = _pick(pools["sentences"], split)
    lines = rng.sample(sentences, rng.randint(1, min(3, len(sentences))))
    if rng.random() < 0.4:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(phrases.FILLER))
    if rng.random() < 0.1:  # a sentence of the same class in the other language
        other = LANGUAGES[rng.choice([k for k in LANGUAGES if k != lang])]
        lines.append(rng.choice(_pick(other.CLASSES[label]["sentences"], split)))
    text = (" " if rng.random() < 0.5 else "\n").join(lines).format(**values)
    if rng.random() < 0.3:
        text = _typos(rng, text, rng.randint(1, 4))
    parts = [text]
    if rng.random() < 0.8:
        parts.insert(0, rng.choice(phrases.GREETINGS).format(**values))
    if rng.random() < 0.8:
        parts.append(f"{rng.choice(phrases.CLOSINGS)}\n{values['sender']}\n{values['company']}")
    if rng.random() < 0.15:
        parts.append(rng.choice(phrases.DISCLAIMERS))
    if rng.random() < 0.08:  # a quoted line of an unrelated earlier mail
        stray = LANGUAGES[lang].CLASSES[rng.choice(CLASSES)]["sentences"]
        parts.append("> " + rng.choice(_pick(stray, split)).format(**values))
    body = "\n\n".join(parts)
    if rng.random() < 0.2:
        subject = rng.choice(phrases.REPLY_PREFIXES) + subject
    if rng.random() < (0.25 if label == "spam" else 0.03):
        subject = subject.upper()
    return LabelledMail(subject, body, label, lang)


def generate(count: int, seed: int, split: Split = "train") -> list[LabelledMail]:
    """``count`` labelled mails, the classes in turn, from ``split``'s templates.

    The same ``count``, ``seed`` and ``split`` give the same mails. Languages: English and
    Spanish, 40% each, and French, 20%.
    """
    rng = random.Random(f"{split}:{seed}")
    languages = sorted(LANGUAGES)
    weights = [_LANGUAGE_SHARE[lang] for lang in languages]
    return [
        _mail(rng, CLASSES[i % len(CLASSES)], rng.choices(languages, weights)[0], split)
        for i in range(count)
    ]


def digest(mails: Iterable[LabelledMail]) -> str:
    """A SHA-256 (hex) of the mails' labels, languages, subjects and bodies, in order."""
    sha = hashlib.sha256()
    for mail in mails:
        for part in (mail.label, mail.language, mail.subject, mail.body):
            sha.update(part.encode())
            sha.update(b"\0")
    return sha.hexdigest()

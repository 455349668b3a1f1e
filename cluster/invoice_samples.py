"""Seeded generators of invoices with known fields (images, image-only "scanned" PDFs, PDFs
with a text layer, and a mail carrying one) and of bad documents.

Used by ``robofleet demo``, the OCR and mail tests and the benchmarks. Everything is made from
fonts on the machine (DejaVu, from the ``fonts-dejavu-core`` package) and Pillow; PDFs are
written by hand so no PDF-writing library is needed.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import struct
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FONTS = {
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
}

VENDOR_FIRST = (
    "Acme",
    "Northwind",
    "Bluebird",
    "Granite",
    "Silverline",
    "Harbor",
    "Maple",
    "Orion",
    "Summit",
    "Cobalt",
    "Redwood",
    "Falcon",
    "Lakeside",
    "Pioneer",
    "Evergreen",
    "Beacon",
)
VENDOR_SECOND = (
    "Supplies",
    "Logistics",
    "Consulting",
    "Systems",
    "Trading",
    "Electric",
    "Printing",
    "Software",
    "Foods",
    "Office",
    "Engineering",
    "Media",
)
VENDOR_SUFFIX = ("Ltd", "GmbH", "Inc.", "LLC", "AG", "B.V.", "S.L.", "Ltd.")
CUSTOMERS = (
    "Contoso Retail Group",
    "Fabrikam Industries",
    "Tailspin Traders",
    "Wide World Importers",
    "Adventure Works Cycles",
    "Litware Labs",
)
ITEMS = (
    "Consulting services",
    "Printer paper A4",
    "Software licence",
    "Support contract",
    "Shipping and handling",
    "Office chairs",
    "Network cables",
    "Cloud hosting",
    "Maintenance visit",
    "Training session",
    "Toner cartridges",
    "Desk lamps",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
CURRENCY_SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£"}


def font_path(name: str, bold: bool = False) -> Path:
    """Return the path of a DejaVu font ("sans" or "serif"); raise FileNotFoundError."""
    filename = FONTS[name][1 if bold else 0]
    for folder in FONT_DIRS:
        if (folder / filename).exists():
            return folder / filename
    raise FileNotFoundError(f"font {filename} not found (apt-get install fonts-dejavu-core)")


def fonts_available() -> bool:
    """Tell whether the fonts the invoices are drawn in are installed."""
    try:
        for name in FONTS:
            font_path(name)
            font_path(name, bold=True)
    except FileNotFoundError:
        return False
    return True


# --------------------------------------------------------------------------- invoice content


@dataclass
class Invoice:
    """The fields of one invoice (the truth) and the lines drawn on it."""

    vendor: str
    number: str
    date: dt.date
    total: Decimal
    currency: str
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (left, middle, right)
    tax: Decimal = Decimal(0)

    def truth(self) -> dict[str, str]:
        """Return the fields as the extractor should report them."""
        return {
            "invoice_number": self.number,
            "date": self.date.isoformat(),
            "vendor": self.vendor,
            "total": f"{self.total:.2f}",
            "currency": self.currency,
            "tax": f"{self.tax:.2f}",
        }


def _money(value: Decimal, style: str) -> str:
    text = f"{value:,.2f}"
    if style == "de":
        return text.replace(",", "_").replace(".", ",").replace("_", ".")
    if style == "plain":
        return f"{value:.2f}"
    return text


def _date_text(date: dt.date, style: int, currency: str) -> str:
    if style == 0:
        return date.isoformat()
    if style == 1:
        return date.strftime("%d.%m.%Y")
    if style == 2:  # numeric with slashes: month first in the US, day first elsewhere
        return date.strftime("%m/%d/%Y" if currency == "USD" else "%d/%m/%Y")
    if style == 3:
        return f"{MONTHS[date.month - 1]} {date.day}, {date.year}"
    return f"{date.day} {MONTHS[date.month - 1][:3]} {date.year}"


def _invoice_number(rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"INV-{rng.randint(2019, 2025)}-{rng.randint(0, 99999):05d}"
    if style == 1:
        return f"{rng.choice('ABFRSX')}{rng.choice('ABFRSX')}{rng.randint(100000, 999999)}"
    if style == 2:
        return f"{rng.randint(1000, 9999)}/{rng.randint(10, 999):03d}"
    return f"F-{rng.randint(10000, 99999)}"


def random_invoice(rng: random.Random) -> Invoice:
    """Return a random invoice: vendor, number, date, items, tax and total, laid out in lines."""
    vendor = f"{rng.choice(VENDOR_FIRST)} {rng.choice(VENDOR_SECOND)} {rng.choice(VENDOR_SUFFIX)}"
    currency = rng.choice(("EUR", "USD", "GBP", "CHF"))
    number = _invoice_number(rng)
    date = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(365 * 5))
    money_style = "de" if currency == "EUR" and rng.random() < 0.4 else rng.choice(("en", "plain"))
    date_style = rng.randrange(5)
    items = rng.sample(ITEMS, rng.randint(2, 4))
    subtotal = Decimal(0)
    rows: list[tuple[str, str, str]] = []
    for item in items:
        quantity = rng.randint(1, 12)
        price = Decimal(rng.randint(500, 250000)) / 100
        amount = price * quantity
        subtotal += amount
        rows.append(
            (item, f"{quantity} x {_money(price, money_style)}", _money(amount, money_style))
        )
    tax_rate = rng.choice((0, 7, 10, 19, 20, 21))
    tax = (subtotal * tax_rate / 100).quantize(Decimal("0.01"))
    total = subtotal + tax
    symbol = CURRENCY_SYMBOL.get(currency)
    shown = _money(total, money_style)
    if symbol and rng.random() < 0.5:
        total_text = f"{symbol}{shown}" if currency != "EUR" else f"{shown} {symbol}"
    else:
        total_text = f"{shown} {currency}"
    number_label = rng.choice(("Invoice No:", "Invoice #", "Invoice Number:", "Inv. No.:"))
    date_label = rng.choice(("Date:", "Invoice Date:", "Issue date:"))
    total_label = rng.choice(("Total:", "Total Due:", "Amount Due:", "TOTAL", "Grand Total:"))
    due = date + dt.timedelta(days=rng.choice((14, 30, 45)))
    lines = [
        (
            f"{rng.randint(1, 250)} {rng.choice(('High', 'Mill', 'Station', 'Park'))} Street, "
            f"{rng.choice(('Leeds', 'Bremen', 'Utrecht', 'Austin', 'Basel', 'Porto'))}",
            "",
            "",
        ),
        (f"Phone +{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}", "", ""),
        ("", "", ""),
        ("INVOICE", "", ""),
        (f"{number_label} {number}", "", ""),
        (f"{date_label} {_date_text(date, date_style, currency)}", "", ""),
        (f"Due date: {_date_text(due, date_style, currency)}", "", ""),
        (f"Order ref: PO-{rng.randint(1000, 99999)}", "", ""),
        ("Bill to:", "", ""),
        (rng.choice(CUSTOMERS), "", ""),
        ("", "", ""),
        ("Description", "Qty x Price", "Amount"),
        *rows,
        ("", "", ""),
        ("", "Subtotal:", _money(subtotal, money_style)),
        ("", f"VAT {tax_rate}%:", _money(tax, money_style)),
        ("", total_label, total_text),
        ("", "", ""),
        ("Payment within 30 days. Thank you for your business.", "", ""),
    ]
    return Invoice(vendor, number, date, total, currency, lines, tax)


# --------------------------------------------------------------------------- rendering


def render_invoice(invoice: Invoice, font: str = "sans", width: int = 1240) -> Image.Image:
    """Draw an invoice on a white A4 page at 150 dpi (1240 x 1754), grayscale."""
    height = round(width * 297 / 210)
    scale = width / 1240
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    body = ImageFont.truetype(str(font_path(font)), round(24 * scale))
    heading = ImageFont.truetype(str(font_path(font, bold=True)), round(40 * scale))
    bold = ImageFont.truetype(str(font_path(font, bold=True)), round(26 * scale))
    margin = round(110 * scale)
    middle = round(640 * scale)
    right = width - margin
    y = round(120 * scale)
    draw.text((margin, y), invoice.vendor, font=heading, fill=0)
    y += round(70 * scale)
    for left_text, middle_text, right_text in invoice.lines:
        face = (
            bold
            if left_text == "INVOICE"
            or middle_text.upper().startswith(("TOTAL", "AMOUNT DUE", "GRAND"))
            else body
        )
        if left_text:
            draw.text((margin, y), left_text, font=face, fill=0)
        if middle_text:
            draw.text((middle, y), middle_text, font=face, fill=0)
        if right_text:
            draw.text((right, y), right_text, font=face, fill=0, anchor="ra")
        y += round(42 * scale)
    return page


def degrade(page: Image.Image, rng: random.Random, strength: float = 1.0) -> Image.Image:
    """Make a clean page look like a poor scan: blur, low contrast, grain and speckle."""
    noise = np.random.default_rng(rng.randrange(2**32))
    blurred = page.filter(ImageFilter.GaussianBlur(0.5 + 0.5 * strength * rng.random()))
    pixels = np.asarray(blurred, dtype=np.float64)
    pixels = 40 * strength + pixels * (1 - 0.35 * strength)  # washed-out: gray ink, gray paper
    pixels += noise.normal(0, 12 * strength, pixels.shape)
    speckle = noise.random(pixels.shape) < 0.002 * strength
    pixels[speckle] = 30
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def rotate(page: Image.Image, degrees: float) -> Image.Image:
    """Rotate a page counter-clockwise as a skewed scan would be, white where paper ran out."""
    return page.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def encode(page: Image.Image, fmt: str, quality: int = 85) -> bytes:
    """Encode a page as PNG, JPEG, TIFF or an image-only PDF."""
    buffer = io.BytesIO()
    if fmt == "jpeg":
        page.save(buffer, "JPEG", quality=quality)
    elif fmt == "pdf":
        page.save(buffer, "PDF", resolution=150.0)
    elif fmt == "tiff":
        page.save(buffer, "TIFF", compression="tiff_deflate")
    else:
        page.save(buffer, "PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- hand-written PDFs


def pdf_from_objects(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """Assemble numbered objects (1..n, object 1 the catalog) into a PDF with an xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer_extra,
        xref,
    )
    return bytes(out)


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(
    pages: list[list[tuple[float, float, float, str, bool]]], trailer_extra: bytes = b""
) -> bytes:
    """Write a PDF with a real text layer: per page, (x, y, size, text, right_aligned) runs.

    Coordinates are PDF points from the top-left of an A4 page; text is Helvetica.
    """
    count = len(pages)
    objects: list[bytes] = [
        b"",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for runs in pages:
        content = bytearray()
        for x, y, size, text, right_aligned in runs:
            # Helvetica digits are 0.556 em wide; close enough to right-align a number column.
            shift = 0.5 * size * len(text) if right_aligned else 0.0
            content += b"BT /F1 %.1f Tf %.2f %.2f Td %s Tj ET\n" % (
                size,
                x - shift,
                842 - y,
                _pdf_string(text),
            )
        objects.append(
            b"<< /Length %d >>\nstream\n" % len(content) + bytes(content) + b"\nendstream"
        )
        content_ref = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << "
            b"/F1 3 0 R >> >> /Contents %d 0 R >>" % content_ref
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % count
    return pdf_from_objects(objects, trailer_extra)


def invoice_text_pdf(invoice: Invoice) -> bytes:
    """Write an invoice as a one-page PDF with a text layer (as accounting software does)."""
    runs: list[tuple[float, float, float, str, bool]] = [(53, 70, 18, invoice.vendor, False)]
    y = 100.0
    for left_text, middle_text, right_text in invoice.lines:
        if left_text:
            runs.append((53, y, 11, left_text, False))
        if middle_text:
            runs.append((307, y, 11, middle_text, False))
        if right_text:
            runs.append((542, y, 11, right_text, True))
        y += 20
    return text_pdf([runs])


def encrypted_pdf() -> bytes:
    """A PDF whose standard security handler needs a user password nobody has."""
    encrypt = (
        b"/Encrypt << /Filter /Standard /V 1 /R 2 /Length 40 /P -44 "
        b"/O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >> "
        b"/ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] "
    )
    return text_pdf([[(53, 100, 12, "Secret invoice INV-1 total 10.00 EUR", False)]], encrypt)


def corrupt_pdf() -> bytes:
    """Bytes that start like a PDF and are not one."""
    return b"%PDF-1.7\n" + bytes(random.Random(3).randrange(256) for _ in range(2000))


def truncated_png() -> bytes:
    """A real PNG cut off half-way through its pixel data."""
    page = (
        render_invoice(random_invoice(random.Random(5)))
        if fonts_available()
        else (Image.effect_noise((600, 400), 60).convert("L"))
    )
    data = encode(page, "png")
    return data[: len(data) // 2]


def pixel_bomb_png(side: int = 30000) -> bytes:
    """A valid 1-bit PNG of side x side white pixels: ~100 KB that would inflate to 900 Mpx."""
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    chunks = [packer.compress(row) for _ in range(side)]
    chunks.append(packer.flush())
    idat = b"".join(chunks)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- sample sets


@dataclass
class InvoiceSample:
    """One generated invoice document and how it was made."""

    name: str
    data: bytes
    truth: dict[str, str]
    font: str
    quality: str  # "clean" or "noisy"
    rotation: float
    container: str  # "png", "jpeg", "tiff", "pdf-image" or "pdf-text"


CONTAINERS = ("png", "jpeg", "pdf-image", "png", "pdf-text", "tiff")


def invoice_samples(count: int = 40, seed: int = 20240601) -> list[InvoiceSample]:
    """Return ``count`` invoices cycling through fonts, scan qualities, skews and containers."""
    rng = random.Random(seed)
    samples = []
    for index in range(count):
        invoice = random_invoice(rng)
        font = ("sans", "serif")[index % 2]
        quality = ("clean", "noisy")[(index // 2) % 2]
        container = CONTAINERS[index % len(CONTAINERS)]
        rotation = 0.0
        if container == "pdf-text":
            data = invoice_text_pdf(invoice)
            quality = "clean"
        else:
            page = render_invoice(invoice, font)
            if index % 3 == 0:
                rotation = round(rng.choice((-1, 1)) * rng.uniform(1.0, 3.0), 2)
                page = rotate(page, rotation)
            if quality == "noisy":
                page = degrade(page, rng)
            fmt = {"pdf-image": "pdf"}.get(container, container)
            data = encode(page, fmt, quality=60 if quality == "noisy" else 90)
        samples.append(
            InvoiceSample(
                name=f"invoice-{index:02d}-{font}-{quality}-{container}"
                + (f"-rot{rotation:+.1f}" if rotation else ""),
                data=data,
                truth=invoice.truth(),
                font=font,
                quality=quality,
                rotation=rotation,
                container=container,
            )
        )
    return samples


def scanned_invoice(seed: int = 18) -> InvoiceSample:
    """One invoice as an office scanner makes it: drawn, skewed 1.5 degrees, grainy and
    washed out, in an image-only PDF (no text layer, so only OCR reads it)."""
    rng = random.Random(seed)
    invoice = random_invoice(rng)
    page = degrade(rotate(render_invoice(invoice, "sans"), 1.5), rng, strength=0.7)
    return InvoiceSample(
        name=f"scanned-invoice-{seed}",
        data=encode(page, "pdf"),
        truth=invoice.truth(),
        font="sans",
        quality="noisy",
        rotation=1.5,
        container="pdf-image",
    )


def poor_scan(seed: int = 11) -> bytes:
    """A washed-out, grainy, blurred, skewed low-resolution JPEG scan of an invoice.

    Tesseract reads it at a mean word confidence near 50, under the default threshold of 85,
    so it exercises the fallback chain; RapidOCR reads most of it.
    """
    rng = random.Random(seed)
    page = render_invoice(random_invoice(rng), "serif", width=1000)
    page = rotate(page, 2.5)
    page = degrade(page, rng, strength=1.5)
    page = page.filter(ImageFilter.GaussianBlur(0.8))
    return encode(page, "jpeg", quality=35)


# --------------------------------------------------------------------------- mail


def invoice_mail(pdf: bytes, number: str, body_extra: str = "") -> bytes:
    """A mail with an invoice attached as a PDF."""
    msg = EmailMessage()
    msg["From"] = "billing@supplier.example"
    msg["To"] = "ap@example.com"
    msg["Subject"] = f"Invoice {number} attached"
    msg["Message-ID"] = make_msgid(domain="supplier.example")
    msg.set_content(
        f"Dear customer,\n\nplease find attached our invoice {number} for the services of "
        f"this month. Payment is due within 30 days.\n{body_extra}\nKind regards,\nBilling"
    )
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{number}.pdf")
    return msg.as_bytes()

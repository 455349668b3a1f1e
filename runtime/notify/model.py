"""The ``do.notify`` action of a rule: a channel, its recipients and a template.

::

    {"notify": {"channel": "email",
                "recipients": [{"to": "ana@example.com", "locale": "es"}, "bob@example.com"],
                "template": {"en": {"subject": "Invoice {{ result.number }}",
                                    "text": "Total {{ result.total | currency('EUR') }}"},
                             "es": {"subject": "Factura {{ result.number }}",
                                    "text": "Total {{ result.total | currency('EUR') }}"}}}}

A webhook recipient is the name of an endpoint of the config's ``[notify.webhooks]`` (its
URL and secrets stay in the config, never in a rule); an email recipient is an address; an
in-app recipient is an API key id (``*`` for every admin); an Apprise recipient (SMS, chat)
is the name of a target of ``[[notify.apprise]]``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from runtime.notify.templates import MessageTemplate, check_templates
from runtime.text import StoreText

__all__ = ["Channel", "MessageTemplate", "NotifyAction", "Recipient"]

LOCALE_PATTERN = r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$"


class Channel(StrEnum):
    """Where a notification goes."""

    WEBHOOK = "webhook"
    EMAIL = "email"
    INAPP = "inapp"
    APPRISE = "apprise"


class Recipient(BaseModel):
    """One recipient: an address (email), an endpoint name (webhook) or a key id (in-app),
    with the locale its message is written and formatted in."""

    model_config = ConfigDict(extra="forbid")

    to: Annotated[StoreText, Field(min_length=1, max_length=320)]
    locale: str = Field("en", pattern=LOCALE_PATTERN)
    name: Annotated[StoreText, Field(max_length=200)] | None = None


class NotifyAction(BaseModel):
    """``do.notify``: send the rendered template to each recipient over ``channel``.

    ``template`` maps a language (``en``, ``es``, ...) to its message; a recipient's locale
    picks its language (``es_MX`` reads ``es``), else ``fallback`` is used. Each template is
    compiled when the rule is saved (:func:`runtime.notify.templates.check_templates`).
    """

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    recipients: list[Recipient] = Field(min_length=1, max_length=100)
    template: dict[Annotated[str, Field(pattern=LOCALE_PATTERN)], MessageTemplate] = Field(
        min_length=1, max_length=32
    )
    fallback: str = Field("en", pattern=LOCALE_PATTERN)

    @field_validator("recipients", mode="before")
    @classmethod
    def _plain_addresses(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"to": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _compiles(self) -> NotifyAction:
        check_templates(self.template)
        return self

    def message_for(self, locale: str) -> tuple[str, MessageTemplate]:
        """The language and template a recipient of ``locale`` reads."""
        for candidate in (locale, locale.replace("-", "_").split("_")[0]):
            if candidate in self.template:
                return candidate, self.template[candidate]
        if self.fallback in self.template:
            return self.fallback, self.template[self.fallback]
        first = next(iter(self.template))
        return first, self.template[first]

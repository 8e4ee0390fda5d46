"""The CDS Hooks 2.0 shapes (cds-hooks.hl7.org/2.0) as pydantic models, to validate what the
service answers: the discovery document, a service response and its cards.

Written from the specification's tables: required fields required, enumerations closed,
no field it does not define (``extra="forbid"``), no JSON null (the specification: "JSON
attributes SHALL NOT be null"; optional ones are omitted), a summary under 140 characters,
``appContext`` only on a SMART link. The specification's own examples must pass
(``tests/test_cds_hooks.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def no_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [k for k, v in data.items() if v is None]
            if nulls:
                raise ValueError(f"null is not allowed: {nulls}")
        return data


class Coding(Strict):
    code: str
    system: str | None = None
    display: str | None = None


class Service(Strict):
    hook: str = Field(min_length=1)
    title: str | None = None
    description: str = Field(min_length=1)
    id: str = Field(min_length=1)
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(Strict):
    services: list[Service]


class Source(Strict):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(Strict):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(Strict):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(Strict):
    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def app_context_only_when_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only valid on a smart link")
        return self


class Card(Strict):
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def selection_with_suggestions(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required with suggestions")
        return self

    @field_validator("overrideReasons")
    @classmethod
    def reasons_have_display(cls, value: list[Coding] | None) -> list[Coding] | None:
        if value and any(not r.display for r in value):
            raise ValueError("each override reason needs a display")
        return value


class Response(Strict):
    cards: list[Card]
    systemActions: list[Action] | None = None

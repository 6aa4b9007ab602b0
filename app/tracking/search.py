"""The run filter grammar, parsed into plain conditions (never SQL strings).

filter    := condition ( AND condition )*
condition := entity "." key comparator value
entity    := metrics | params | tags | attributes   (singular forms too)
key       := bare-key | `quoted key` | "quoted key"
comparator:= = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
value     := number | 'string' | "string" | ( value, ... )
"""

import re
from dataclasses import dataclass
from typing import Literal

from app.errors import InvalidFilter

Entity = Literal["metrics", "params", "tags", "attributes"]
Value = float | str | tuple[float | str, ...]

_ENTITY_ALIASES: dict[str, Entity] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
NUMERIC_COMPARATORS = frozenset({"=", "!=", "<", "<=", ">", ">="})
STRING_COMPARATORS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
# Attribute name -> (canonical name, is numeric)
ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "status": ("status", False),
    "name": ("name", False),
    "run_name": ("name", False),
    "user": ("user", False),
    "user_id": ("user", False),
    "id": ("id", False),
    "run_id": ("id", False),
    "parent_run_id": ("parent_run_id", False),
    "start_time": ("start_time", True),
    "end_time": ("end_time", True),
    "experiment_id": ("experiment_id", True),
}

_BARE_KEY = re.compile(r"[A-Za-z0-9_\-./:]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class Condition:
    entity: Entity
    key: str
    comparator: str
    value: Value


@dataclass(frozen=True)
class OrderBy:
    entity: Entity
    key: str
    ascending: bool


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> InvalidFilter:
        found = self.text[self.pos : self.pos + 20]
        shown = f"found {found!r}" if found else "found the end of the filter"
        return InvalidFilter(
            f"at position {self.pos}: expected {expected}, {shown}", position=self.pos, filter=self.text
        )

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.pos)
        if not found:
            return None
        self.pos = found.end()
        return found.group(0)

    def keyword(self, word: str) -> bool:
        self.skip_space()
        end = self.pos + len(word)
        if self.text[self.pos : end].upper() == word and (end >= len(self.text) or not self.text[end].isalnum()):
            self.pos = end
            return True
        return False

    def quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        end = self.text.find(quote, self.pos)
        if end < 0:
            self.pos = start
            raise self.fail(f"a closing {quote}")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def entity_and_key(self) -> tuple[Entity, str]:
        self.skip_space()
        word = self.match(_WORD)
        if word is None or word.lower() not in _ENTITY_ALIASES:
            if word is not None:
                self.pos -= len(word)
            raise self.fail("metrics.<key>, params.<key>, tags.<key> or attributes.<name>")
        entity = _ENTITY_ALIASES[word.lower()]
        if self.text[self.pos : self.pos + 1] != ".":
            raise self.fail(f"'.' after {word!r}")
        self.pos += 1
        char = self.text[self.pos : self.pos + 1]
        key = self.quoted(char) if char in ("`", '"') else self.match(_BARE_KEY) or ""
        if not key:
            raise self.fail(f"a key after '{word}.'")
        if entity == "attributes":
            if key not in ATTRIBUTES:
                self.pos -= len(key)
                raise self.fail(f"an attribute, one of {', '.join(sorted(ATTRIBUTES))}")
            key = ATTRIBUTES[key][0]
        return entity, key

    def comparator(self) -> str:
        self.skip_space()
        for symbol in ("<=", ">=", "!=", "<>", "==", "=", "<", ">"):
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return {"<>": "!=", "==": "="}.get(symbol, symbol)
        for word in ("LIKE", "ILIKE", "IN"):
            if self.keyword(word):
                return word
        if self.keyword("NOT"):
            if self.keyword("IN"):
                return "NOT IN"
            raise self.fail("IN after NOT")
        raise self.fail("a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)")

    def scalar(self) -> float | str:
        self.skip_space()
        char = self.text[self.pos : self.pos + 1]
        if char in ("'", '"'):
            return self.quoted(char)
        number = self.match(_NUMBER)
        if number is None:
            raise self.fail("a number or a quoted string")
        return float(number)

    def value(self, comparator: str) -> Value:
        if comparator not in ("IN", "NOT IN"):
            return self.scalar()
        self.skip_space()
        if self.text[self.pos : self.pos + 1] != "(":
            raise self.fail("'(' to open the list after IN")
        self.pos += 1
        items = [self.scalar()]
        while True:
            self.skip_space()
            char = self.text[self.pos : self.pos + 1]
            if char == ")":
                self.pos += 1
                return tuple(items)
            if char != ",":
                raise self.fail("',' or ')' in the IN list")
            self.pos += 1
            items.append(self.scalar())


_ATTRIBUTE_LIMITS = {"start_time": 2**53, "end_time": 2**53, "experiment_id": 2**31 - 1}


def _check_types(reader: _Reader, start: int, entity: Entity, key: str, comparator: str, value: Value) -> None:
    numeric = entity == "metrics" or (entity == "attributes" and ATTRIBUTES[key][1])
    allowed = NUMERIC_COMPARATORS if numeric else STRING_COMPARATORS
    if entity == "attributes" and key == "experiment_id":
        allowed = NUMERIC_COMPARATORS | {"IN", "NOT IN"}
    values = value if isinstance(value, tuple) else (value,)
    reader.pos = start
    if comparator not in allowed:
        raise InvalidFilter(
            f"at position {start}: {entity}.{key} takes {', '.join(sorted(allowed))}, not {comparator}",
            position=start,
            filter=reader.text,
        )
    wanted = float if numeric else str
    if any(not isinstance(v, wanted) for v in values):
        kind = "a number" if numeric else "a quoted string"
        raise InvalidFilter(
            f"at position {start}: {entity}.{key} compares with {kind}", position=start, filter=reader.text
        )
    # Integer attributes are compared as integers in their columns: a number beyond the column's
    # range (or 1e400, read as infinity) cannot be, and is the client's mistake, not a 500.
    limit = _ATTRIBUTE_LIMITS.get(key) if entity == "attributes" else None
    if limit is not None and any(not -limit <= v <= limit for v in values if isinstance(v, float)):
        raise InvalidFilter(
            f"at position {start}: {entity}.{key} compares with a number within ±{limit}",
            position=start,
            filter=reader.text,
        )


def parse_filter(text: str) -> list[Condition]:
    reader = _Reader(text)
    conditions: list[Condition] = []
    if reader.at_end():
        return conditions
    while True:
        reader.skip_space()
        start = reader.pos
        entity, key = reader.entity_and_key()
        comparator = reader.comparator()
        value = reader.value(comparator)
        end = reader.pos
        _check_types(reader, start, entity, key, comparator, value)
        reader.pos = end
        conditions.append(Condition(entity, key, comparator, value))
        if reader.at_end():
            return conditions
        if not reader.keyword("AND"):
            raise reader.fail("AND between conditions (OR is not supported)")


def parse_order_by(clauses: list[str]) -> list[OrderBy]:
    orders = []
    for clause in clauses:
        reader = _Reader(clause)
        entity, key = reader.entity_and_key()
        ascending = True
        if reader.keyword("DESC"):
            ascending = False
        else:
            reader.keyword("ASC")
        if not reader.at_end():
            raise reader.fail("ASC, DESC or the end of the order_by clause")
        orders.append(OrderBy(entity, key, ascending))
    return orders

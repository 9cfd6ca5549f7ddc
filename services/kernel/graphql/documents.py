"""Parsing and validation of documents, each done once per distinct document.

Clients send the same few documents over and over, and validating one from scratch costs ten
times its parse (placeOrder: ~2 ms), so a schema keeps, in bounded LRU maps keyed by the
document's text, its successful parses and its validation verdicts. A syntax error is not
kept: strawberry then parses again and answers with its coded error.

A new document is checked first against the limits (linear in its size, on the event loop), and
only if it is within them by graphql-core's rules, in a worker thread, off the event loop. One
of those (OverlappingFieldsCanBeMerged) is quadratic in the copies of a field; the limits bound
its work too (overlap.py), since the thread still shares the GIL with the loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Generic, TypeVar

from graphql import DocumentNode, GraphQLError, GraphQLSchema, specified_rules, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from services.kernel.graphql.limits import MAX_TOKENS, OperationLimits

CACHED_DOCUMENTS: Final = 128
# One thread for the whole process: a flood of new documents waits its turn there rather than
# filling more threads that would each compete with the event loop for the GIL.
_VALIDATOR: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-validate")
# Built once: graphql-core's rules and the two strawberry adds to them.
RULES: Final = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A map that forgets its least recently used entry beyond `size` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class Documents:
    """One schema's parses and verdicts, shared by every request to it."""

    def __init__(
        self, schema: GraphQLSchema, list_bounds: Mapping[str, int], size: int = CACHED_DOCUMENTS
    ) -> None:
        self.schema = schema
        self.limits = OperationLimits(schema, list_bounds)
        self.parsed: Lru[str, DocumentNode] = Lru(size)
        self.verdicts: Lru[str, tuple[GraphQLError, ...]] = Lru(size)

    async def validate(self, document: DocumentNode) -> list[GraphQLError]:
        errors = self.limits.check(document)
        if errors:
            return errors
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_VALIDATOR, validate, self.schema, document, RULES)


class CheckedDocuments(SchemaExtension):
    """Parses and validates through the `documents` of the schema it runs in."""

    @property
    def documents(self) -> Documents:
        documents = getattr(self.execution_context.schema, "documents", None)
        if not isinstance(documents, Documents):
            raise TypeError("CheckedDocuments needs a schema with `documents` (build_schema's)")
        return documents

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = MAX_TOKENS
        yield

    async def on_parse(self) -> AsyncIterator[None]:
        """The parse, then at once the verdict on the document. Giving the verdict here rather
        than in `on_validate` spares strawberry one more hook to wrap and enter on every
        operation; its own validation is skipped all the same (the errors are set before it),
        and an operation it refuses for its type is refused as before, only after the check."""
        context = self.execution_context
        query = context.query
        cached = self.documents.parsed.get(query) if query else None
        if cached is not None:
            context.graphql_document = cached  # strawberry's parse is skipped then
        yield
        document = context.graphql_document
        if not query or document is None:  # no document, or a syntax error strawberry answers
            return
        if cached is None:
            self.documents.parsed.put(query, document)
        verdict = self.documents.verdicts.get(query)
        if verdict is None:
            verdict = tuple(await self.documents.validate(document))
            self.documents.verdicts.put(query, verdict)
        context.pre_execution_errors = list(verdict)

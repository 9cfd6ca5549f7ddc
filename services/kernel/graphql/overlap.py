"""A bound on the work of graphql-core's OverlappingFieldsCanBeMergedRule, checked first.

That rule compares every pair of fields that answer under the same name in the same place:
the fields a selection set holds directly, in its inline fragments and in the fragments it
spreads, then, pair by pair, their sub-selections merged. The pairs grow as the square of the
copies, and the copies multiply down the levels, so a document within the token, alias and
cost limits can still cost a tenth of a second (990 `__typename`s; `ofType` twice in each of 7
nested `ofType`s). Validation runs in a thread, but one that shares the GIL with the loop.

So before that rule runs, the same merge is walked here, counting one unit per selection met
and `n * n` per name answered by `n` fields; the walk stops as soon as the count exceeds the
limit, so it costs at most the limit itself. Fragment definitions are walked as roots too (the
rule visits them, even unused ones). A fragment in its own chain of spreads is skipped: a
cycle, refused by NoFragmentCyclesRule with its own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

# GraphiQL's introspection query needs ~600; our clients' documents, under 100.
MAX_OVERLAP: Final = 5_000

Chain = frozenset[str]  # the fragments spread on the way to a selection set
Group = list[tuple[SelectionSetNode, Chain]]


class _Spent(Exception):
    """The walk passed its limit."""


def within_overlap_limit(document: DocumentNode, limit: int = MAX_OVERLAP) -> bool:
    """Whether comparing the document's same-named fields costs at most `limit` units."""
    walk = _Walk(document, limit)
    try:
        for definition in document.definitions:
            if isinstance(definition, ExecutableDefinitionNode):
                walk.merge([(definition.selection_set, frozenset())])
    except _Spent:
        return False
    return True


class _Walk:
    def __init__(self, document: DocumentNode, limit: int) -> None:
        self.fragments: Mapping[str, FragmentDefinitionNode] = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.left = limit

    def merge(self, sets: Group) -> None:
        """Compare the fields of `sets` as one selection set, then each name's sub-selections."""
        by_name: dict[str, Group] = {}
        for node, chain in sets:
            self._collect(node, chain, by_name, set())
        for subs in by_name.values():
            self._spend(len(subs) * len(subs))
            nested = [(sub, chain) for sub, chain in subs if sub.selections]
            if nested:
                self.merge(nested)

    def _collect(
        self, node: SelectionSetNode, chain: Chain, by_name: dict[str, Group], spread: set[str]
    ) -> None:
        for selection in node.selections:
            self._spend(1)
            if isinstance(selection, FieldNode):
                name = (selection.alias or selection.name).value
                inner = selection.selection_set or _EMPTY
                by_name.setdefault(name, []).append((inner, chain))
            elif isinstance(selection, InlineFragmentNode):
                self._collect(selection.selection_set, chain, by_name, spread)
            elif isinstance(selection, FragmentSpreadNode):
                self._spread(selection.name.value, chain, by_name, spread)

    def _spread(self, name: str, chain: Chain, by_name: dict[str, Group], spread: set[str]) -> None:
        definition = self.fragments.get(name)
        # graphql-core spreads a fragment once per selection set; an unknown one is refused
        # by KnownFragmentNamesRule, a cycle by NoFragmentCyclesRule.
        if definition is None or name in spread or name in chain:
            return
        self._spend(len(chain))  # what copying the chain costs: bounded by the limit too
        spread.add(name)
        self._collect(definition.selection_set, chain | {name}, by_name, spread)

    def _spend(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise _Spent


_EMPTY: Final = SelectionSetNode(selections=())

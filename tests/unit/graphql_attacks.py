"""Small GraphQL documents that ask for a great deal of work: the shapes of the attack class
the document limits refuse (fragment-spread bombs on business and introspection types,
aliases multiplied through fragments, deep nesting). Each is a few hundred bytes to ~1.5 KB."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """Where a service's business bomb starts: a root selection and a type with a scalar."""

    root: str  # a selection with `{}` where the first fragment is spread
    type_name: str
    scalar: str


TARGETS = {
    "order": Target("products {}", "Product", "sku"),
    "inventory": Target("products {}", "Product", "sku"),
    "payment": Target('payment(orderId: "o1") {}', "Payment", "status"),
}


def _fragments(levels: int, type_name: str, body: str, last: str) -> str:
    """Fragments F0..F{levels}; in `body`, NEXT names the next one; the last holds `last`."""
    made = [
        f"fragment F{i} on {type_name} {{ {body.replace('NEXT', f'F{i + 1}')} }}"
        for i in range(levels)
    ]
    made.append(f"fragment F{levels} on {type_name} {{ {last} }}")
    return " ".join(made)


def spread_fan_out(target: Target, levels: int) -> str:
    """Each fragment spreads the next four times: 4**levels fields once expanded."""
    body = f"{target.scalar} ...NEXT ...NEXT ...NEXT ...NEXT"
    fragments = _fragments(levels, target.type_name, body, target.scalar)
    return "{ " + target.root.replace("{}", "{ ...F0 }") + " } " + fragments


def nested_fragments(target: Target, levels: int) -> str:
    """Fragments nesting each other inside inline fragments, four spreads a level."""
    on = f"... on {target.type_name}"
    body = f"{target.scalar} {on} {{ ...NEXT ...NEXT {on} {{ ...NEXT ...NEXT }} }}"
    fragments = _fragments(levels, target.type_name, body, target.scalar)
    return "{ " + target.root.replace("{}", "{ ...F0 }") + " } " + fragments


def introspection_types(levels: int) -> str:
    """The issue's introspection bomb: each __Type fragment spreads the next twice through
    `fields { type { ofType { ... } } }`."""
    body = "name fields { type { ofType { ...NEXT ...NEXT } } }"
    return "{ __schema { types { ...F0 } } } " + _fragments(levels, "__Type", body, "name")


def introspection_type_lookup(levels: int) -> str:
    """Through `__type(name:)`, possibleTypes and interfaces."""
    body = "kind possibleTypes { ...NEXT } interfaces { ...NEXT } fields { type { ...NEXT } }"
    fragments = _fragments(levels, "__Type", body, "kind")
    return '{ __type(name: "Query") { ...F0 } } ' + fragments


def aliases_through_fragments(levels: int) -> str:
    """Two aliases per fragment, each spreading the next twice: 2**(levels+1) aliases."""
    body = "a: __typename b: __typename ...NEXT ...NEXT"
    return "{ ...F0 } " + _fragments(levels, "Query", body, "a: __typename")


def deep_nesting(levels: int) -> str:
    """A chain of selections `levels` deep (the fields need not exist: depth is checked first)."""
    return "{ " + "".join(f"f{i} {{ " for i in range(levels)) + "x" + " }" * (levels + 1)


def attacks(service: str, levels: int) -> dict[str, str]:
    target = TARGETS[service]
    return {
        "spread fan-out": spread_fan_out(target, levels),
        "nested fragments": nested_fragments(target, levels),
        "introspection types": introspection_types(levels),
        "introspection lookup": introspection_type_lookup(levels),
        "aliases": aliases_through_fragments(levels),
        "deep nesting": deep_nesting(4 * levels),
    }


def _of_type_tree(levels: int) -> str:
    return "kind" if levels == 0 else " ".join([f"ofType {{ {_of_type_tree(levels - 1)} }}"] * 2)


def repeated_fields(service: str) -> dict[str, str]:
    """Within the token, depth, alias and cost limits, but many fields answering under one
    name, which graphql-core's overlapping-fields rule compares pair by pair (each took
    ~0.1 s to validate, in a thread that shares the GIL with the event loop)."""
    target = TARGETS[service]
    inner = "{ " + f"{target.scalar} " * 30 + "}"
    return {
        "one field, many times": "{ " + "__typename " * 900 + "}",
        "a list, many times": "{ " + " ".join([target.root.replace("{}", inner)] * 15) + " }",
        "copies under copies": '{ __type(name: "Query") { ' + _of_type_tree(7) + " } }",
        "in an unused fragment": "{ __typename } fragment U on Query { "
        + "__typename " * 900
        + "}",
        "through fragments": "{ ...A ...B } "
        + " ".join(f"fragment {n} on Query {{ {'__typename ' * 400}}}" for n in "AB"),
        # graphql-core walks the rest of the chain from each fragment: quadratic in its length
        "a chain of fragments": "{ ...F0 } " + _fragments(120, "Query", "...NEXT", "__typename"),
    }

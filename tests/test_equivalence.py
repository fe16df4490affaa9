"""The equivalence walks (tests/equivalence.py) in small: per-rules tables and caches change no decision."""
import copy

from tests.equivalence import rules_sets, walk


def test_walks_decide_alike_on_fresh_rules_and_on_rules_many_tickets_used():
    shared = rules_sets()
    seeds = range(36)
    warm = {seed: walk(seed, 8, shared) for seed in reversed(seeds)}
    for seed in seeds:
        fresh = {name: copy.copy(rules) for name, rules in shared.items()}  # a copy builds its tables afresh
        assert walk(seed, 8, fresh) == warm[seed]
    assert sum(len(w) for w in warm.values()) == 8 * len(seeds)

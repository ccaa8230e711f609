"""``RULE.GENE=NUMBER`` arguments of the benchmark scripts, read one way.

benchmarks/rules.py's ``--set`` trains a rule with a gene other than its default;
benchmarks/evolved_vs_fixed.py's and seeded_vs_fixed.py's ``--hold`` fix a gene for both sides
of the comparison (the config's ``rule.hyperparameters``), as ep's and chl's relaxation was
held while it was an option.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script, `rules` would be benchmarks/rules.py
    raise SystemExit("benchmarks/gene_settings.py is imported by the benchmark scripts "
                     "(rules.py, evolved_vs_fixed.py, seeded_vs_fixed.py); it runs nothing")

import rules  # noqa: E402


def parse_genes(items: list[str], flag: str) -> dict[str, dict[str, float]]:
    """``["fa.lr=1e-3", ...]`` -> ``{"fa": {"lr": 0.001}}``, each checked against its rule's
    genes before any training; a malformed item, an unknown rule or gene and a value out of
    bounds name themselves and the flag they were given to."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        name, _, value = item.partition("=")
        rule_name, _, gene = name.partition(".")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not rule_name or not gene or number is None:
            raise SystemExit(f"{flag} {item!r}: expected RULE.GENE=NUMBER, e.g. fa.lr=1e-3")
        out.setdefault(rule_name, {})[gene] = number
    for rule_name, genes in out.items():
        try:
            rules.get_rule(rule_name).hyperparameters().resolve(genes)
        except (rules.UnknownRuleError, rules.HyperparameterError) as exc:
            raise SystemExit(f"{flag} {rule_name}: {exc}") from None
    return out

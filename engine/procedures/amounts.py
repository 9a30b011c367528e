"""Amounts the rules grant (an aid, a subsidy), and how each is explained.

An action that grants money (``@action``) is split in two: a pure part that computes the amount
and its figures from the case, the parameter set in force and the ledger's balance, shared by
the action (which then draws from the ledger) and by a **preview** (which only reads it). A kind
registers both with ``amount_rule``, with the function that puts the figures in words
(``explain``). The same ``explain`` reads the figures a preview produced and those an approval
recorded in its audit event, so what a reviewer is shown before approving is worded, and
computed, as what the approval then records.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from engine.cases.rule_context import RuleContext

# What a case's outcome says once the amounts (or places) it drew went back to their ledgers
# (engine.procedures.ledgers.release_drawn): the approval was cancelled before payment.
RELEASED = "drawn_released"


@dataclass(frozen=True)
class Figure:
    """One figure put into the formula: its name, and its value (money when ``is_money``)."""

    label: str
    value: Decimal | str
    is_money: bool = True


@dataclass(frozen=True)
class Explanation:
    """An amount and how the rules came to it.

    ``stage``: "preview" (what approving now would grant), "granted" (what the approval recorded)
    or "cancelled" (granted, then given back before payment). ``amount`` is None when approving
    now would be refused (``refusal`` says why: nothing to grant, the cap used up)."""

    amount: Decimal | None
    title: str                      # 补助金额, 帮扶金额
    formula: str                    # the rule in words, e.g. "（可补助自付费用 − 起付线）× 补助比例"
    worked: str                     # the same with the figures put in, e.g. "(7,000.00 − 1,000.00) × 50%"
    figures: tuple[Figure, ...]
    scheme: str                     # the scheme or the standards applied
    parameters: dict | None         # the parameter set's citation: id, name, hash, valid_from
    cap: Decimal | None = None      # the cap of the person (or household) for the period
    period: str | None = None       # the cycle or year the cap counts
    used_before: Decimal | None = None
    left_after: Decimal | None = None
    computed: Decimal | None = None  # the amount before the cap (and before a lowering)
    capped: bool = False            # cut to what was left of the cap
    lowered_reason: str | None = None
    refusal: str | None = None
    stage: str = "preview"
    rule: str = ""                  # the action's name and version (set by engine.reading.amounts)
    rule_version: str = ""


@dataclass(frozen=True)
class AmountRule:
    action: str
    preview: Callable[[RuleContext], dict]
    explain: Callable[[dict], Explanation]
    # The key of the case's outcome holding the granted amount (e.g. "subsidy_amount").
    outcome_key: str


_amount_rules: dict[str, AmountRule] = {}


def amount_rule(action: str, *, preview: Callable[[RuleContext], dict], explain: Callable[[dict], Explanation],
                outcome_key: str) -> None:
    """Declare that the action ``action`` grants an amount: ``preview(ctx)`` returns the figures the
    action would return now, without writing; ``explain(figures)`` words them."""
    _amount_rules[action] = AmountRule(action, preview, explain, outcome_key)


def amount_rule_of(action: str) -> AmountRule | None:
    return _amount_rules.get(action)

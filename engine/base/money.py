"""How an amount of money reads, everywhere it is shown: "1,600.00 元" (pages, the API's text,
the engine's explanations of an amount)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def format_money(amount: Decimal | str | int | None, unit: str = "元") -> str:
    """Two decimals, thousands grouped, the unit after a space; "—" for no amount. Pages pass the
    unit in the reader's language (web.i18n.money)."""
    if amount is None or amount == "":
        return "—"
    return f"{money_figure(amount)} {unit}"


def money_figure(amount: Decimal | str | int) -> str:
    """The figure alone, as inside a formula whose result carries the unit: "5,000.00"."""
    return f"{Decimal(str(amount)).quantize(CENT, ROUND_HALF_UP):,}"

"""Which symbol weights the corpus shows to be wrong: `./run bench --weights RAW` (issue #39).

Reads what `./run bench --quality --raw RAW` kept (every held-out message's symbols and scores
after learn.py, fold by fold) and searches, greedily, for the few weight changes that flag the most
spam at the seed's add_header score while flagging as little ham as before: each step tries every
symbol that fired on enough messages at a few multiples of its weight and keeps the single change
that gains the most, until none gains enough. A message's score with a changed weight is its
symbol's score scaled by the same multiple (rspamd scales a symbol's weight by its strength, so a
symbol's score is linear in its weight).

To tell a change that generalises from one that fits these messages, the search is judged fold by
fold: run on the other folds' messages, scored on the held one (``leave one fold out``). Only then
is it run on every fold for the weights to propose. A measurement: it prints and never fails.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from dataclasses import dataclass

ADD_HEADER = 10.0  # the seed's add_header score: what "flagged" means
MULTIPLES = (0.0, 0.5, 1.25, 1.5, 2.0, 3.0)  # what the search tries for each symbol's weight
MIN_MESSAGES = 15  # a symbol fired on fewer messages is left as it is: too little to judge
HAM_COST = 10  # a ham message flagged weighs as ten spam missed
MIN_GAIN = 3  # a change must gain at least this (spam flagged less HAM_COST x ham flagged)
SHARES = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)  # --symbol: the shares of its weight as scanned it tries


@dataclass(frozen=True)
class Message:
    kind: str  # spam, easy or hard
    score: float
    symbols: dict[str, float]


def messages(raw: dict) -> list[list[Message]]:
    """Each fold's held-out messages after learning."""
    return [[Message(r["name"].split("/", 1)[0], r["score"], r["symbols"]) for r in fold] for fold in raw["after"]]


def score(message: Message, multiples: dict[str, float]) -> float:
    return message.score + sum((m - 1.0) * message.symbols.get(symbol, 0.0) for symbol, m in multiples.items())


def counts(held: list[Message], multiples: dict[str, float]) -> collections.Counter:
    """Per kind: scanned and flagged."""
    out: collections.Counter = collections.Counter()
    for message in held:
        out[f"{message.kind} scanned"] += 1
        out[f"{message.kind} flagged"] += score(message, multiples) >= ADD_HEADER
    return out


def worth(found: collections.Counter, ham_cost: float = HAM_COST) -> float:
    return found["spam flagged"] - ham_cost * (found["easy flagged"] + found["hard flagged"])


def search(training: list[Message], ham_cost: float = HAM_COST) -> dict[str, float]:
    """The greedy search: one symbol's weight changed at a time, the best change kept."""
    fired = collections.Counter(s for m in training for s, v in m.symbols.items() if v)
    candidates = sorted(s for s, n in fired.items() if n >= MIN_MESSAGES)
    chosen: dict[str, float] = {}
    best = worth(counts(training, chosen), ham_cost)
    while True:
        step = None
        for symbol in candidates:
            for multiple in MULTIPLES:
                if chosen.get(symbol, 1.0) == multiple:
                    continue
                trial = {**chosen, symbol: multiple}
                gained = worth(counts(training, trial), ham_cost) - best
                if gained >= MIN_GAIN and (step is None or gained > step[0]):
                    step = (gained, symbol, multiple)
        if step is None:
            return chosen
        best += step[0]
        chosen[step[1]] = step[2]


def one_symbol(folds: list[list[Message]], symbol: str, ham_cost: float = HAM_COST) -> None:
    """One symbol's weight alone, judged as the search is: the share of its weight (SHARES) worth the
    most on the other folds (the larger share, the nearer to the weight as scanned, when two are
    worth as much), judged on the held fold; then each share on every fold."""
    judged: collections.Counter = collections.Counter()
    for held in range(len(folds)):
        training = [m for i, fold in enumerate(folds) if i != held for m in fold]
        share = max(SHARES, key=lambda m: (worth(counts(training, {symbol: m}), ham_cost), m))
        found = counts(folds[held], {symbol: share})
        judged.update(found)
        print(f"fold {held + 1}: {symbol} x{share}: {rates(found)}")
    print(f"{symbol} chosen on the other folds, each fold judged: {rates(judged)}")
    everything = [m for fold in folds for m in fold]
    for share in SHARES:
        print(f"{symbol} x{share}, every fold: {rates(counts(everything, {symbol: share}))}")


def rates(found: collections.Counter) -> str:
    return ", ".join(
        f"{kind} {found[f'{kind} flagged']}/{found[f'{kind} scanned']}"
        f" ({100 * found[f'{kind} flagged'] / max(1, found[f'{kind} scanned']):.1f}%)"
        for kind in ("spam", "easy", "hard")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run bench --weights", description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", help="the file ./run bench --quality --raw wrote")
    parser.add_argument("--ham-cost", type=float, default=HAM_COST, help="how many spam missed one ham flagged weighs")
    parser.add_argument("--symbol", help="judge this symbol's weight alone, at shares of its weight as scanned")
    args = parser.parse_args(argv)
    with open(args.raw) as handle:
        folds = messages(json.load(handle))
    if args.symbol:
        one_symbol(folds, args.symbol, args.ham_cost)
        return 0
    as_is: collections.Counter = collections.Counter()
    judged: collections.Counter = collections.Counter()
    for held in range(len(folds)):
        training = [m for i, fold in enumerate(folds) if i != held for m in fold]
        chosen = search(training, args.ham_cost)
        as_is.update(counts(folds[held], {}))
        judged.update(counts(folds[held], chosen))
        print(f"fold {held + 1}: {chosen or 'no change'}: {rates(counts(folds[held], chosen))}")
    print(f"weights as deployed, every fold: {rates(as_is)}")
    print(f"changes searched on the other folds, each fold judged: {rates(judged)}")
    everything = [m for fold in folds for m in fold]
    chosen = search(everything, args.ham_cost)
    print(f"the changes every fold shows: {chosen or 'none'}: {rates(counts(everything, chosen))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

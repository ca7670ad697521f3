#!/usr/bin/env python3
"""The expected result of q6_corrected, computed without any SQL engine.

Usage: q6_oracle.py EVENTS.jsonl OUT.jsonl

Reads the Nexmark events (one JSON object per line, as `riffle gen nexmark` writes them) and
writes the final contents of the sink `nexmark_q6` as flink_oracle.py would: one
`{"sink": "nexmark_q6", "row": [seller, avg_price]}` line per auction with a winning bid.

The definition (see queries/q6_corrected.sql): an auction's winner is its highest bid whose
time lies within [auction dateTime, expires], the earliest of equal bids; per seller the
auctions with a winner are ordered by the winner's time; each such auction's row holds the
average price of its winner and the winners of the seller's 9 auctions before it (integer
division, as AVG of BIGINT in Flink).
"""
import json
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    auctions = {}
    bids = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            if e.get("auction"):
                a = e["auction"]
                auctions[a["id"]] = a
            elif e.get("bid"):
                bids.append(e["bid"])
    # Times are "yyyy-MM-dd HH:mm:ss.SSS" strings, which order as text.
    winners = {}
    for b in bids:
        a = auctions.get(b["auction"])
        if a is None or not (a["dateTime"] <= b["dateTime"] <= a["expires"]):
            continue
        best = winners.get(a["id"])
        if best is None or b["price"] > best["price"]:
            winners[a["id"]] = b
    by_seller = {}
    for auction_id, b in winners.items():
        by_seller.setdefault(auctions[auction_id]["seller"], []).append(b)
    rows = []
    for seller, won in by_seller.items():
        won.sort(key=lambda b: b["dateTime"])
        for i in range(len(won)):
            frame = [b["price"] for b in won[max(0, i - 9) : i + 1]]
            rows.append([seller, sum(frame) // len(frame)])
    rows.sort()
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        for r in rows:
            out.write(json.dumps({"sink": "nexmark_q6", "row": r}) + "\n")


if __name__ == "__main__":
    main()

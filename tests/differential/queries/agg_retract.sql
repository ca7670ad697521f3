-- Aggregation over an updating input: how many auctions have N bids, and
-- the price range over them, maintained under retractions.
CREATE TABLE agg_retract (
  bids BIGINT,
  auctions BIGINT,
  min_top BIGINT,
  max_top BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO agg_retract
SELECT bids, COUNT(*), MIN(top_price), MAX(top_price)
FROM (SELECT auction, COUNT(*) AS bids, MAX(price) AS top_price FROM bid GROUP BY auction)
GROUP BY bids;

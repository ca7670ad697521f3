-- TUMBLE with every aggregate function, DISTINCT and FILTER.
CREATE TABLE tvf_tumble (
  auction BIGINT,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  bids BIGINT,
  total BIGINT,
  top_price BIGINT,
  low_price BIGINT,
  avg_price BIGINT,
  bidders BIGINT,
  big_bids BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO tvf_tumble
SELECT auction, window_start, window_end,
       COUNT(*), SUM(price), MAX(price), MIN(price), AVG(price),
       COUNT(DISTINCT bidder),
       COUNT(*) FILTER (WHERE price > 10000)
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
GROUP BY auction, window_start, window_end;

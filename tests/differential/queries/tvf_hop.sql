-- HOP with named arguments; every bid lands in five windows. Grouped by a small
-- expression so the result stays a few hundred rows.
CREATE TABLE tvf_hop (
  part BIGINT,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  bids BIGINT,
  max_price BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO tvf_hop
SELECT MOD(auction, 4), window_start, window_end, COUNT(*), MAX(price)
FROM TABLE(HOP(DATA => TABLE bid, TIMECOL => DESCRIPTOR(`dateTime`),
               SLIDE => INTERVAL '1' SECOND, SIZE => INTERVAL '5' SECOND))
GROUP BY MOD(auction, 4), window_start, window_end;

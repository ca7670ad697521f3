-- CUMULATE: windows growing in 1 s steps up to 4 s, per bidder class.
CREATE TABLE tvf_cumulate (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  part BIGINT,
  bids BIGINT,
  volume BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO tvf_cumulate
SELECT window_start, window_end, MOD(bidder, 3), COUNT(*), SUM(price)
FROM TABLE(CUMULATE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND, INTERVAL '4' SECOND))
GROUP BY window_start, window_end, MOD(bidder, 3);

-- SESSION with PARTITION BY: per-bidder sessions closed by a 1 s gap.
CREATE TABLE tvf_session (
  bidder BIGINT,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  bids BIGINT,
  spent BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO tvf_session
SELECT bidder, window_start, window_end, COUNT(*), SUM(price)
FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))
GROUP BY bidder, window_start, window_end;

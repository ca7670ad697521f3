-- HOP with named arguments; every bid lands in five windows.
CREATE TABLE tvf_hop (
  channel VARCHAR,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  bids BIGINT,
  max_price BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO tvf_hop
SELECT channel, window_start, window_end, COUNT(*), MAX(price)
FROM TABLE(HOP(DATA => TABLE bid, TIMECOL => DESCRIPTOR(`dateTime`),
               SLIDE => INTERVAL '1' SECOND, SIZE => INTERVAL '5' SECOND))
GROUP BY channel, window_start, window_end;

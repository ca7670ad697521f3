-- Cascaded windows: a window table function over the window_time of a window aggregate.
-- Per bidder 2-second totals, rolled up into 4-second tumbling windows and 4-second hopping
-- windows (every 2 seconds); the outer windows fire when the watermark passes their end,
-- after the inner ones they are made of. A GROUP BY on the bounds of a window aggregate is a
-- window aggregate too (window property propagation, as in q5): the busiest bidder's count per
-- hopping window, fired with the window.
CREATE TABLE cascade_tumble (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  bidders BIGINT,
  bids BIGINT,
  total BIGINT,
  top_bidder_total BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE cascade_hop (
  bidder BIGINT,
  window_end TIMESTAMP(3),
  parts BIGINT,
  bids BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE cascade_attached (
  ws TIMESTAMP(3),
  we TIMESTAMP(3),
  bidders BIGINT,
  busiest BIGINT
) WITH ('connector' = 'blackhole');

CREATE VIEW bidder_2s AS
SELECT bidder, window_start AS inner_start, window_time AS rowtime,
       COUNT(*) AS bids, SUM(price) AS total
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
GROUP BY bidder, window_start, window_end, window_time;

INSERT INTO cascade_tumble
SELECT window_start, window_end, COUNT(DISTINCT bidder), SUM(bids), SUM(total), MAX(total)
FROM TABLE(TUMBLE(TABLE bidder_2s, DESCRIPTOR(rowtime), INTERVAL '4' SECOND))
GROUP BY window_start, window_end;

INSERT INTO cascade_hop
SELECT bidder, window_end, COUNT(*), SUM(bids)
FROM TABLE(HOP(TABLE bidder_2s, DESCRIPTOR(rowtime), INTERVAL '2' SECOND, INTERVAL '4' SECOND))
WHERE MOD(bidder, 5) = 0
GROUP BY bidder, window_start, window_end;

INSERT INTO cascade_attached
SELECT ws, we, COUNT(*), MAX(bids)
FROM (
  SELECT bidder, window_start AS ws, window_end AS we, COUNT(*) AS bids
  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '4' SECOND))
  GROUP BY bidder, window_start, window_end
)
GROUP BY ws, we;

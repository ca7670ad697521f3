-- OVER aggregates on event time: a ROWS frame of the 3 rows before, a RANGE frame of the
-- 2 seconds before (rows of one time share a result) and an unbounded ROWS frame; MIN and
-- MAX retract what leaves a bounded frame.
CREATE TABLE over_rows (
  auction BIGINT,
  price BIGINT,
  t TIMESTAMP(3),
  n BIGINT,
  total BIGINT,
  top BIGINT,
  mean BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE over_range (
  bidder BIGINT,
  price BIGINT,
  n BIGINT,
  low BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE over_unbounded (
  channel VARCHAR,
  price BIGINT,
  total BIGINT,
  n BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO over_rows
SELECT auction, price, `dateTime`,
  COUNT(*) OVER (PARTITION BY auction ORDER BY `dateTime` ROWS BETWEEN 3 PRECEDING AND CURRENT ROW),
  SUM(price) OVER (PARTITION BY auction ORDER BY `dateTime` ROWS BETWEEN 3 PRECEDING AND CURRENT ROW),
  MAX(price) OVER (PARTITION BY auction ORDER BY `dateTime` ROWS BETWEEN 3 PRECEDING AND CURRENT ROW),
  AVG(price) OVER (PARTITION BY auction ORDER BY `dateTime` ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)
FROM bid;

INSERT INTO over_range
SELECT bidder, price,
  COUNT(*) OVER (PARTITION BY bidder ORDER BY `dateTime`
                 RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW),
  MIN(price) OVER (PARTITION BY bidder ORDER BY `dateTime`
                   RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW)
FROM bid;

INSERT INTO over_unbounded
SELECT channel, price,
  SUM(price) OVER (PARTITION BY channel ORDER BY `dateTime` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
  COUNT(*) OVER (PARTITION BY channel ORDER BY `dateTime` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
FROM bid;

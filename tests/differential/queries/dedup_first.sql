-- Deduplication keeping each bidder's first bid (event time, ascending).
CREATE TABLE dedup_first (
  bidder BIGINT,
  auction BIGINT,
  price BIGINT,
  `dateTime` TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

INSERT INTO dedup_first
SELECT bidder, auction, price, `dateTime`
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY `dateTime` ASC) AS rn FROM bid)
WHERE rn = 1;

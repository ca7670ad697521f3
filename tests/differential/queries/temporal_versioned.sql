-- An event-time temporal join with a versioned table: each bid reads the rate of its key
-- (MOD(auction, 10)) that was valid at the bid's time, and a LEFT join pads the bids that
-- came before their key's first version. The rates table is a CSV file of versions sorted
-- by time (tests/differential/data/rates.csv, copied next to q13's side input), with a
-- primary key and a watermark on its version time. The result is deterministic: a bid is
-- joined when the watermark of both inputs passes its time, and by then every version up
-- to that time has been read.
CREATE TABLE rates (
  k BIGINT,
  rate BIGINT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts,
  PRIMARY KEY (k) NOT ENFORCED
) WITH (
  'connector' = 'filesystem',
  'path' = '${FLINK_HOME}/data/rates.csv',
  'format' = 'csv'
);

CREATE TABLE temporal_versioned_left (
  auction BIGINT,
  price BIGINT,
  bid_time TIMESTAMP(3),
  rate BIGINT,
  rate_time TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

CREATE TABLE temporal_versioned_inner (
  auction BIGINT,
  price BIGINT,
  rate BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO temporal_versioned_left
SELECT B.auction, B.price, B.`dateTime`, R.rate, R.ts
FROM bid AS B
LEFT JOIN rates FOR SYSTEM_TIME AS OF B.`dateTime` AS R
ON MOD(B.auction, 10) = R.k;

INSERT INTO temporal_versioned_inner
SELECT B.auction, B.price, R.rate
FROM bid AS B
JOIN rates FOR SYSTEM_TIME AS OF B.`dateTime` AS R
ON MOD(B.auction, 10) = R.k AND B.price > R.rate;

-- Interval joins on event time (INNER, LEFT, FULL OUTER with strict bounds and a residual
-- condition) and on processing time. Event time: the watermark drops each row once the
-- other side's time has passed its interval, and unmatched outer rows come out padded
-- then. Processing time has deterministic results in two shapes only: an interval that
-- spans the whole run (every pair of the key matches), and a left side whose interval
-- ends at its own arrival (it is never kept: unmatched rows are padded at once).
CREATE TABLE join_interval_inner (
  auction BIGINT,
  price BIGINT,
  seller BIGINT,
  bid_time TIMESTAMP(3),
  auction_time TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

CREATE TABLE join_interval_left (
  id BIGINT,
  category BIGINT,
  bidder BIGINT,
  price BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE join_interval_full (
  person_id BIGINT,
  state VARCHAR,
  auction_id BIGINT,
  category BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE join_interval_proctime (
  auction BIGINT,
  bidder BIGINT,
  seller BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE join_interval_proctime_left (
  auction BIGINT,
  bidder BIGINT,
  other BIGINT
) WITH ('connector' = 'blackhole');

CREATE VIEW bid_p AS SELECT auction, bidder, price, PROCTIME() AS p FROM bid;

CREATE VIEW auction_p AS SELECT id, seller, PROCTIME() AS p FROM auction;

-- Bids placed within 3 seconds after their auction was created.
INSERT INTO join_interval_inner
SELECT B.auction, B.price, A.seller, B.`dateTime`, CAST(A.`dateTime` AS TIMESTAMP(3))
FROM bid AS B
JOIN auction AS A
  ON B.auction = A.id
 AND B.`dateTime` BETWEEN A.`dateTime` AND A.`dateTime` + INTERVAL '3' SECOND;

-- Every auction with its bids of the first second; auctions without one padded.
INSERT INTO join_interval_left
SELECT A.id, A.category, B.bidder, B.price
FROM auction AS A
LEFT JOIN bid AS B
  ON A.id = B.auction
 AND B.`dateTime` >= A.`dateTime`
 AND B.`dateTime` <= A.`dateTime` + INTERVAL '1' SECOND;

-- Persons and the auctions they open around their sign-up, strict bounds, only big
-- categories matching; both sides padded when unmatched.
INSERT INTO join_interval_full
SELECT P.id, P.state, A.id, A.category
FROM person AS P
FULL OUTER JOIN auction AS A
  ON P.id = A.seller
 AND A.`dateTime` > P.`dateTime` - INTERVAL '1' SECOND
 AND A.`dateTime` < P.`dateTime` + INTERVAL '4' SECOND
 AND A.category > 11;

INSERT INTO join_interval_proctime
SELECT B.auction, B.bidder, A.seller
FROM bid_p AS B
JOIN auction_p AS A
  ON B.auction = A.id
 AND B.p BETWEEN A.p - INTERVAL '1' HOUR AND A.p + INTERVAL '1' HOUR;

INSERT INTO join_interval_proctime_left
SELECT L.auction, L.bidder, R.bidder
FROM bid_p AS L
LEFT JOIN (SELECT * FROM bid_p WHERE price < 0) AS R
  ON L.auction = R.auction
 AND L.p BETWEEN R.p AND R.p + INTERVAL '1' SECOND;

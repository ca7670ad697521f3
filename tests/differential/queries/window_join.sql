-- Window joins: both inputs windowed (window table functions, or window aggregates that keep
-- the bounds) and the condition equating both window_starts and both window_ends. Each window
-- is joined when the watermark passes its end: FULL OUTER over two window aggregates (rows of
-- either side without a partner come out padded), INNER over the rows of two TUMBLE tables
-- with a residual condition (each side a sample of the bidders: a hot auction's bids in one
-- second would otherwise pair into millions of rows), and SEMI (IN) and ANTI (NOT EXISTS) joins on windows.
CREATE TABLE window_join_full (
  l_auction BIGINT,
  r_auction BIGINT,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  even_bids BIGINT,
  max_price BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE window_join_rows (
  auction BIGINT,
  low BIGINT,
  high BIGINT,
  window_end TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

CREATE TABLE window_join_semi (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  window_start TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

CREATE TABLE window_join_anti (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  window_end TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

INSERT INTO window_join_full
SELECT L.auction, R.auction, COALESCE(L.window_start, R.window_start),
       COALESCE(L.window_end, R.window_end), L.bids, R.price
FROM (
  SELECT auction, window_start, window_end, COUNT(*) AS bids
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
  WHERE MOD(bidder, 2) = 0
  GROUP BY auction, window_start, window_end
) L
FULL JOIN (
  SELECT auction, window_start, window_end, MAX(price) AS price
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
  WHERE MOD(bidder, 3) = 0
  GROUP BY auction, window_start, window_end
) R
ON L.auction = R.auction AND L.window_start = R.window_start AND L.window_end = R.window_end;

INSERT INTO window_join_rows
SELECT L.auction, L.price, R.price, L.window_end
FROM (SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))
      WHERE MOD(bidder, 7) = 0) L
JOIN (SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))
      WHERE MOD(bidder, 11) = 0) R
ON L.auction = R.auction AND L.window_start = R.window_start AND L.window_end = R.window_end
   AND L.price < R.price;

INSERT INTO window_join_semi
SELECT L.auction, L.bidder, L.price, L.window_start
FROM (SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))) L
WHERE L.auction IN (
  SELECT R.auction
  FROM (SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))) R
  WHERE R.price > 20000 AND L.window_start = R.window_start AND L.window_end = R.window_end);

INSERT INTO window_join_anti
SELECT L.auction, L.bidder, L.price, L.window_end
FROM (SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))) L
WHERE NOT EXISTS (
  SELECT *
  FROM (SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))) R
  WHERE L.auction = R.auction AND R.bidder <> L.bidder
    AND L.window_start = R.window_start AND L.window_end = R.window_end);

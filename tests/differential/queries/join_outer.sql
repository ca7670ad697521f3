-- Outer joins of changelog streams: every auction with its bid count (an
-- updating input), left-joined to persons who sell, and a full join of
-- persons and auctions on the seller with a residual condition. The padded
-- rows are retracted when a first match arrives and come back when the last
-- one goes.
CREATE TABLE join_left_counts (
  id BIGINT,
  seller BIGINT,
  bids BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE join_full_residual (
  person_id BIGINT,
  state VARCHAR,
  auction_id BIGINT,
  category BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE join_right_cross (
  bidder BIGINT,
  n BIGINT,
  category BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO join_left_counts
SELECT A.id, A.seller, C.bids
FROM auction AS A
LEFT JOIN (SELECT auction, COUNT(*) AS bids FROM bid GROUP BY auction) AS C
  ON A.id = C.auction;

INSERT INTO join_full_residual
SELECT P.id, P.state, A.id, A.category
FROM person AS P
FULL OUTER JOIN auction AS A
  ON P.id = A.seller AND A.category > 10;

INSERT INTO join_right_cross
SELECT B.bidder, B.n, A.category
FROM (SELECT bidder, COUNT(*) AS n FROM bid GROUP BY bidder) AS B
RIGHT JOIN (SELECT category FROM auction GROUP BY category) AS A
  ON B.n > A.category;

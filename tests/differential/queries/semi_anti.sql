-- IN and EXISTS subqueries (semi joins) and NOT EXISTS (anti joins), over append-only and
-- updating inputs, with conditions on both sides.
CREATE TABLE semi_in (
  id BIGINT,
  seller BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE semi_exists (
  id BIGINT,
  category BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE anti_not_exists (
  id BIGINT,
  name VARCHAR
) WITH ('connector' = 'blackhole');

CREATE TABLE anti_updating (
  id BIGINT,
  category BIGINT
) WITH ('connector' = 'blackhole');

-- Auctions whose seller lives in Oregon.
INSERT INTO semi_in
SELECT id, seller FROM auction WHERE seller IN (SELECT id FROM person WHERE state = 'OR');

-- Auctions with a bid far above their category number (a condition on both sides).
INSERT INTO semi_exists
SELECT A.id, A.category FROM auction AS A
WHERE EXISTS (SELECT * FROM bid AS B WHERE B.auction = A.id AND B.price > 100 * A.category);

-- Persons who opened no auction.
INSERT INTO anti_not_exists
SELECT P.id, P.name FROM person AS P
WHERE NOT EXISTS (SELECT * FROM auction AS A WHERE A.seller = P.id);

-- Auctions that never reached five bids: the subquery is an updating aggregate.
INSERT INTO anti_updating
SELECT A.id, A.category FROM auction AS A
WHERE NOT EXISTS (
  SELECT * FROM (SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction) AS C
  WHERE C.auction = A.id AND C.n >= 5);

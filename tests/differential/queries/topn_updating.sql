-- Top-N over updating inputs: the top 3 sellers of each category by their number of
-- auctions and the two most frequent bidders of each auction (Top-N over a GROUP BY: a count
-- that grows moves a row up and pushes another out), and the highest bid of each auction over a LEFT JOIN (a Top-1 over a join whose
-- null-padded rows are retracted when the first bid arrives).
CREATE TABLE topn_over_agg (
  category BIGINT,
  seller BIGINT,
  auctions BIGINT,
  rn BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE top2_bidders (
  auction BIGINT,
  bidder BIGINT,
  bids BIGINT
) WITH ('connector' = 'blackhole');

CREATE TABLE top1_over_left_join (
  auction BIGINT,
  seller BIGINT,
  bidder BIGINT,
  price BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO topn_over_agg
SELECT category, seller, auctions, rn
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY auctions DESC, seller) AS rn
  FROM (SELECT category, seller, COUNT(*) AS auctions FROM auction GROUP BY category, seller)
)
WHERE rn <= 3;

INSERT INTO top2_bidders
SELECT auction, bidder, bids
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY bids DESC, bidder DESC) AS rn
  FROM (SELECT auction, bidder, COUNT(*) AS bids FROM bid GROUP BY auction, bidder)
)
WHERE rn <= 2;

INSERT INTO top1_over_left_join
SELECT id, seller, bidder, price
FROM (
  SELECT A.id, A.seller, B.bidder, B.price,
         ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.bidder) AS rn
  FROM auction AS A LEFT JOIN bid AS B ON A.id = B.auction
)
WHERE rn = 1;

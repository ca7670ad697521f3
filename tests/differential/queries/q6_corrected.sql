-- Nexmark q6, "average selling price by seller over the last 10 closed auctions", which
-- Flink cannot plan (its OVER aggregate refuses the Top-1's retractions, FLINK-19059).
-- oracle: q6_oracle.py
--
-- Riffle's definition: per seller, the average winning price over the seller's last 10
-- auctions with a winning bid, the auctions ordered by the time of their winning bid; one row
-- per auction, updated whenever a winner changes. At every moment the rows fold into what
-- the OVER query gives as a batch query over the current winners. The winner of an auction is
-- its highest bid within [auction dateTime, expires], the earliest of equal bids.
--
-- Corrections to the reference text, which is not valid SQL as written: the rownum filter
-- moves one level out (it was applied where rownum is defined), the inner aliases A and B are
-- not used outside their subquery, the sink's seller is BIGINT (the column's type), and the
-- frame is 9 PRECEDING AND CURRENT ROW: the text's 10 PRECEDING would average 11 auctions.
-- The result is checked against q6_oracle.py, an independent computation of this definition.
CREATE TABLE nexmark_q6 (
  seller BIGINT,
  avg_price BIGINT
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q6
SELECT
    Q.seller,
    AVG(Q.price) OVER
        (PARTITION BY Q.seller ORDER BY Q.`dateTime` ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)
FROM (
    SELECT *
    FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY id, seller ORDER BY price DESC) AS rownum
        FROM (SELECT A.id, A.seller, B.price, B.`dateTime`
            FROM auction AS A,
                bid AS B
            WHERE A.id = B.auction
                AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires)
    )
    WHERE rownum <= 1
) AS Q;

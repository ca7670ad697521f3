-- Top-3 bids per auction by price without selecting the row number: rows enter
-- and leave the result (+I / -D); equal prices keep their arrival order.
CREATE TABLE topn_norank (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO topn_norank
SELECT auction, bidder, price
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn FROM bid)
WHERE rn <= 3;

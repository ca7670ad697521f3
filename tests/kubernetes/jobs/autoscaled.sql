-- The autoscaler's load: Nexmark events whose emission follows a square wave (rate.limited:
-- half of each rate.period at first-event.rate events/s, half at next-event.rate), bids grouped
-- by a key that is new for almost every bid (so the aggregate passes each bid on), and a
-- CPU-heavy expression on every row behind the hash exchange. The aggregate's vertex is the busy
-- one; the source's stays light. run.sh renders LOW_RATE, HIGH_RATE and PERIOD with envsubst.
SET 'execution.checkpointing.interval' = '2s';
CREATE TABLE datagen (
    event_type INT,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>
) WITH (
    'connector' = 'nexmark',
    'max-emit-speed' = 'false',
    'rate.limited' = 'true',
    'rate.shape' = 'SQUARE',
    'first-event.rate' = '${LOW_RATE}',
    'next-event.rate' = '${HIGH_RATE}',
    'rate.period' = '${PERIOD}'
);
CREATE TABLE out_t (auction BIGINT, n BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out_t
SELECT auction, CHAR_LENGTH(REGEXP_REPLACE(REPEAT(url, 8000), '[a-c]+', 'x'))
FROM (
    SELECT bid.auction AS auction, bid.bidder AS bidder, bid.`dateTime` AS dt, bid.url AS url
    FROM datagen WHERE event_type = 2
    GROUP BY bid.auction, bid.bidder, bid.`dateTime`, bid.url
);

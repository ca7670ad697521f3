-- The bid stream of the Nexmark table, for Riffle's own differential cases.
CREATE VIEW bid AS
SELECT
    bid.auction,
    bid.bidder,
    bid.price,
    bid.channel,
    `dateTime`
FROM ${NEXMARK_TABLE} WHERE event_type = 2;

-- Tell the worker a tag needs it at `at`: its outbox has events, or a verification of it expires.
-- Guarantees: the tag keeps its earliest time; every hint counts, so a worker that read the tag
-- before this hint never clears it (relay.lua compares the count).
-- KEYS: [1] tags (sorted set: tag -> ms), [2] hint counts (hash). ARGV[1]: the tag, ARGV[2]: ms.
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
return redis.call('HINCRBY', KEYS[2], ARGV[1], 1)

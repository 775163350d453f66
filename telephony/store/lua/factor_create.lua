-- Store a new TOTP factor and index it under its identity, in one step.
-- Guarantees: a listed factor always exists, and an existing one is always listed (until deleted).
-- Twin: MemoryStore.factor_create. KEYS[1]: the factor, [2]: its identity's index (a sorted set, one
-- slot with it: the id's tag). ARGV[1]: the factor's id, [2]: its creation (ms), [3...]: field, value, ...
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1

-- Delete a key only if it still holds the value the caller read.
-- Guarantees: a key another client changed or deleted meanwhile is left as it now is.
-- KEYS[1]: the key. ARGV[1]: the value read.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0

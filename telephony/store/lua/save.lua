-- Compare-and-set a verification: write only if the stored version is still the one the caller read.
-- Guarantees: of concurrent writers stepping from one version, exactly one writes; an expired
-- record is never brought back (its expiry is not touched).
-- KEYS[1]: the verification. ARGV[1]: the expected version; ARGV[2...]: field, value, ...
local version = redis.call('HGET', KEYS[1], 'v')
if version == false or version ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1

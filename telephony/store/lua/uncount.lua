-- Give back one count on each counter: the send that a scope admitted was refused elsewhere.
-- Guarantees: a counter this send created is gone again (as if never touched); an older one keeps
-- its value and its expiry as they were.
-- KEYS: the counters (one slot).
for i = 1, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 1

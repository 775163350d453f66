-- Drop the first entries of a tag's outbox once they are in the event log.
-- Guarantees: only what the caller read is dropped: when another worker trimmed first (the head is
-- no longer the entry read) nothing is, and entries appended meanwhile stay for the next drain.
-- KEYS[1]: the outbox. ARGV[1]: the first entry read, ARGV[2]: how many were read.
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
  return 1
end
return 0

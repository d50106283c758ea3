"""Lua scripts of the Redis job store: each state change of a job is one atomic step.

Redis runs a script without interleaving other commands, so the job hash, the stream
entry and the consumer group's pending list never disagree, even when two replicas act on
the same job at once.
"""

from __future__ import annotations

# KEYS: job hash, idempotency key (or the job hash again when there is none), stream.
# ARGV: job id, "1" when an idempotency key is given, then the job hash's field-value pairs.
# Returns {1, job id} for a new job, or {0, existing job id}.
SUBMIT = """
if ARGV[2] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {0, existing} end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[2] == '1' then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('XADD', KEYS[3], '*', 'job', ARGV[1])
return {1, ARGV[1]}
"""

# KEYS: job hash, stream. ARGV: group, entry id, consumer, time.
# An entry that another consumer took over meanwhile is left to that consumer. A job without
# a hash (expired) or with a final state needs no run, and its entry is removed.
# Returns {attempts, inputs} or false.
START = """
local pending = redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #pending == 0 then return false end
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'done' or state == 'failed' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return false
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'started_at', ARGV[4], 'consumer', ARGV[3])
return {attempts, redis.call('HGET', KEYS[1], 'inputs')}
"""

# KEYS: job hash, vectors, stream, idempotency key (or the job hash again).
# ARGV: group, entry id, retention seconds, vectors (or "" for a failure), then the job
# hash's field-value pairs. Stores the outcome only while the job has no final state, so
# `completions` counts one outcome however often the job ran. Returns 1 when stored.
FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
local stored = 0
if state and state ~= 'done' and state ~= 'failed' then
  if ARGV[4] ~= '' then
    redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[3])
  end
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  redis.call('HINCRBY', KEYS[1], 'completions', 1)
  redis.call('HDEL', KEYS[1], 'inputs')
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  if KEYS[4] ~= KEYS[1] then redis.call('EXPIRE', KEYS[4], ARGV[3]) end
  stored = 1
end
redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[3], ARGV[2])
return stored
"""

# KEYS: job hash, stream. ARGV: group, entry id, job id, consumer.
# Moves a job pending for this consumer to the end of the stream, for any consumer.
RELEASE = """
local pending = redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[4])
if #pending == 0 then return 0 end
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'queued')
  redis.call('XADD', KEYS[2], '*', 'job', ARGV[3])
end
return 1
"""

# KEYS: stream. ARGV: group, entry id, consumer.
# Resets the idle time of an entry pending for this consumer, so no other consumer
# reclaims it.
EXTEND = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #pending == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"""

# KEYS: stream. ARGV: group, consumer.
# Removes this consumer from the group when it has no pending entries, so the group
# lists only consumers that may still have some.
LEAVE = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

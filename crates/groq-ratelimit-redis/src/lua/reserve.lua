-- reserve: ARGV = requests, tokens, margin, lease, cap (-1: none), horizon, then the quota
-- (per dimension L, P, k, e). Charges every limited bucket at once or nothing.
local req = tonumber(ARGV[1])
local tok = tonumber(ARGV[2])
local margin = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local horizon = tonumber(ARGV[6])
local now = now_us()
expire(now)
sync_quota(now, 7)
redis.call('HSET', S, 'cap', fmt(cap))

local buckets = {}
for i = 1, 4 do
  local b = load(i)
  buckets[i] = b
  if b then
    local units = req
    if is_token(i) then units = tok end
    if units > b.L then
      return { 'never', fmt(i), fmt(units), fmt(b.L), fmt(now) }
    end
  end
end

local pen = tonumber(redis.call('HGET', S, 'pen') or '0')
if pen > now then
  return { 'pen', fmt(pen), redis.call('HGET', S, 'pend') or '', fmt(now) }
end

local latest, binding = nil, 0
for i = 1, 4 do
  local b = buckets[i]
  if b then
    local units = req
    if is_token(i) then units = tok end
    local at = check(b, now, margin, units)
    if at and (latest == nil or at > latest) then
      latest = at
      binding = i
    end
  end
end

local at = now
if latest then
  if latest - now > horizon then
    return { 'wait', fmt(latest), fmt(binding), fmt(now) }
  end
  -- A slot in the future, within the horizon: charged now for that instant.
  at = latest
end

if cap >= 0 and redis.call('ZCARD', LEASES) >= cap then
  return { 'inflight', fmt(cap), fmt(now) }
end

local id = redis.call('HINCRBY', S, 'seq', 1)
local out = { 'ok', fmt(id), fmt(now), fmt(at), fmt(binding) }
local window = nil
if at == now then window = window_of(now, margin) end
for i = 1, 4 do
  local b = buckets[i]
  if b then
    local units = req
    if is_token(i) then units = tok end
    local m = charge(b, at, units, window)
    store(b)
    for _, v in ipairs({ m.ep, m.Rw, m.Rf, m.T, m.f, m.w }) do
      out[#out + 1] = fmt(v)
    end
  else
    for _ = 1, 6 do out[#out + 1] = '-1' end
  end
end
redis.call('ZADD', LEASES, at + lease, id)
redis.call('HSET', COSTS, id, fmt(req) .. ' ' .. fmt(tok))
return out

-- reserve: ARGV = requests, tokens, input tokens, output tokens, audio seconds, margin, lease,
-- cap (-1: none), horizon, the quota string (per dimension L, P, k, e). Charges every limited
-- bucket at once or nothing.
local U = {}
for j = 1, 5 do U[j] = tonumber(ARGV[j]) end
local margin = tonumber(ARGV[6])
local lease = tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local horizon = tonumber(ARGV[9])
local now = now_us()
local st = load_state()
expire(st, now)
sync_quota(st, now, 10)
if st.cap ~= ARGV[8] then set(st, 'cap', ARGV[8]) end
local buckets = st.b

for i = 1, NDIMS do
  local b = buckets[i]
  if b then
    local units = U[UNIT[i]]
    if units > b.L then
      save(st)
      return { 'never', fmt(i), fmt(units), fmt(b.L), fmt(now) }
    end
  end
end

if st.pen > now then
  save(st)
  return { 'pen', fmt(st.pen), st.pend, fmt(now) }
end

local latest, binding = nil, 0
for i = 1, NDIMS do
  local b = buckets[i]
  if b then
    local at = check(b, now, margin, U[UNIT[i]])
    if at and (latest == nil or at > latest) then
      latest = at
      binding = i
    end
  end
end

local at = now
if latest then
  if latest - now > horizon then
    save(st)
    return { 'wait', fmt(latest), fmt(binding), fmt(now) }
  end
  -- A slot in the future, within the horizon: charged now for that instant.
  at = latest
end

if cap >= 0 and redis.call('ZCARD', LEASES) >= cap then
  save(st)
  return { 'inflight', fmt(cap), fmt(now) }
end

st.seq = st.seq + 1
local id = fmt(st.seq)
set(st, 'seq', id)
-- Integers below 2^53 are answered as Redis integers, exactly and without formatting.
local out = { 'ok', st.seq, now, at, binding }
local n = 5
local window = nil
if at == now then window = window_of(now, margin) end
for i = 1, NDIMS do
  local b = buckets[i]
  if b then
    local m = charge(b, at, U[UNIT[i]], window)
    touch(st)
    out[n + 1] = m.ep
    out[n + 2] = m.Rw
    out[n + 3] = m.Rf
    out[n + 4] = m.T
    out[n + 5] = m.f
    out[n + 6] = m.w
  else
    for j = 1, 6 do out[n + j] = -1 end
  end
  n = n + 6
end
local expiry = at + lease
if expiry < st.nx then
  st.nx = expiry
  set(st, 'nx', fmt(expiry))
end
save(st)
redis.call('ZADD', LEASES, expiry, id .. ' ' .. table.concat(ARGV, ' ', 1, 5))
return out

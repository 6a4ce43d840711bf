-- Shared by every script of groq-ratelimit-redis. One model's state lives in keys that share a
-- hash tag: KEYS[1] the state hash and KEYS[2] the lease sorted set, whose members are
-- "id requests tokens input output audio" (the reservation and its cost) scored by their
-- expiry.
--
-- Time is integer microseconds of Redis TIME. Each bucket is the GCRA of LocalLimiter in
-- scaled units: an instant t is t*k scaled units, one unit costs e, a full bucket is L*e. The
-- theoretical arrival time is kept as a pair (T, f) = T*k + f with 0 <= f < k, so that every
-- number stays below 2^53 and Lua's doubles compute exactly.
--
-- The state hash holds the buckets in one field, 'B': the eight dimensions (in the order RPM,
-- RPD, TPM, TPD, ASH, ASD, ITPM, OTPM), each the twelve numbers L P k e T f ep Rw Rf w a b,
-- all zero when unlimited (see decode_all for the encoding); plus
-- 'epoch', 'seq', 'cap', 'pen', 'pend', 'nx' (no lease expires before nx) and 'q' (the quota
-- last applied). A script reads them with one HMGET and writes what changed with one HSET:
-- every redis.call costs microseconds, so a script makes as few as it can.

local S = KEYS[1]
local LEASES = KEYS[2]
local NDIMS = 8
-- Which unit of a cost (requests, tokens, input, output, audio) each dimension counts.
local UNIT = { 1, 1, 2, 2, 5, 5, 3, 4 }
local NEVER = 9007199254740992

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function fmt(x)
  return string.format('%.0f', x)
end

-- floor division and remainder that stay exact for |a| < 2^53.
local function divmod(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then
    q = q - 1
    r = r + b
  elseif r >= b then
    q = q + 1
    r = r - b
  end
  return q, r
end

local function ceil_div(a, b)
  local q, r = divmod(a, b)
  if r > 0 then q = q + 1 end
  return q
end

-- Whether dimension i counts requests (RPM, RPD): those are never corrected by usage.
local function is_requests(i)
  return i <= 2
end

local function decode(v, i)
  if not v or #v == 0 then return nil end
  return {
    i = i, L = v[1], P = v[2], k = v[3], e = v[4], T = v[5], f = v[6], ep = v[7], Rw = v[8],
    Rf = v[9], w = v[10], a = v[11], b = v[12],
  }
end

-- 'B' as written: 'D' then the eight buckets' twelve numbers each as little-endian doubles
-- (struct, exact: every number is an integer below 2^53), L = 0 when unlimited. Unpacking
-- it is one C call a bucket, cheaper than MessagePack's nested arrays, which older versions
-- wrote and which are still read.
local NFIELDS = 12
local BUCKET = '<' .. string.rep('d', NFIELDS)
local UNLIMITED = string.rep('\0', 8 * NFIELDS)

local function decode_all(st, v)
  if not v or #v == 0 then return end
  if string.byte(v, 1) == 68 then
    local pos = 2
    for i = 1, NDIMS do
      local L, P, k, e, T, f, ep, Rw, Rf, w, a, b, nxt = struct.unpack(BUCKET, v, pos)
      pos = nxt
      if L ~= 0 then
        st.b[i] = {
          i = i, L = L, P = P, k = k, e = e, T = T, f = f, ep = ep, Rw = Rw, Rf = Rf, w = w,
          a = a, b = b,
        }
      end
    end
  else
    local all = cmsgpack.unpack(v)
    for i = 1, NDIMS do
      st.b[i] = decode(all[i], i)
    end
  end
end

-- Only the buckets (a settle needs no scalar), in one call.
local function load_buckets()
  local st = { b = {}, dirty = false, out = {} }
  decode_all(st, redis.call('HGET', S, 'B'))
  return st
end

-- The model's state: every bucket (nil when unlimited) and the scalars, in one call.
local function load_state()
  local v = redis.call('HMGET', S, 'B', 'epoch', 'seq', 'cap', 'pen', 'pend', 'nx', 'q')
  local st = { b = {}, dirty = false, out = {} }
  decode_all(st, v[1])
  st.epoch = tonumber(v[2] or '0')
  st.seq = tonumber(v[3] or '0')
  st.cap = v[4]
  st.pen = tonumber(v[5] or '0')
  st.pend = v[6] or ''
  st.nx = tonumber(v[7] or '0')
  st.q = v[8]
  return st
end

-- A bucket changed: the buckets are written by the next save.
local function touch(st)
  st.dirty = true
end

local function set(st, field, value)
  st.out[#st.out + 1] = field
  st.out[#st.out + 1] = value
end

-- Writes what changed, in one HSET.
local function save(st)
  local out = st.out
  if st.dirty then
    local parts = { 'D' }
    for i = 1, NDIMS do
      local b = st.b[i]
      if b then
        parts[i + 1] = struct.pack(BUCKET, b.L, b.P, b.k, b.e, b.T, b.f, b.ep, b.Rw, b.Rf, b.w,
          b.a, b.b)
      else
        parts[i + 1] = UNLIMITED
      end
    end
    out[#out + 1] = 'B'
    out[#out + 1] = table.concat(parts)
  end
  if #out > 0 then
    redis.call('HSET', S, unpack(out))
  end
  st.out = {}
  st.dirty = false
end

-- The scaled level (T, f) - t*k, which may be negative (an idle bucket).
local function rel(b, t)
  return (b.T - t) * b.k + b.f
end

local function level(b, t)
  local l = rel(b, t)
  if l < 0 then return 0 end
  return l
end

local function capacity(b)
  return b.L * b.e
end

-- Sets the TAT to t*k + x (x scaled, any sign).
local function set_tat(b, t, x)
  local q, r = divmod(x, b.k)
  b.T = t + q
  b.f = r
end

-- Whether `units` fit at `now` judged as of now - margin; else the earliest instant they do.
local function check(b, now, margin, units)
  local judged = now - margin
  local l = level(b, judged)
  local cost = units * b.e
  if l + cost <= capacity(b) then return nil end
  -- the earliest t with (t - margin)*k >= T*k + f + cost - capacity
  return margin + b.T + ceil_div(b.f + cost - capacity(b), b.k)
end

-- Adds `units` at t (no capacity check).
local function add(b, t, units)
  if b.T < t then
    b.T = t
    b.f = 0
  end
  set_tat(b, b.T, b.f + units * b.e)
end

local function roll(b, window)
  if window == nil then return nil end
  local d = window - b.w
  if d == 1 then
    b.a = b.b
    b.b = 0
  elseif d ~= 0 then
    b.a = 0
    b.b = 0
  end
  b.w = window
  return window
end

-- Lowers the TAT to t*k + x (never below t, never raising it), recording the decrease.
local function lower_to(b, t, x)
  if x < 0 then x = 0 end
  local cur = rel(b, t)
  if x < cur then
    local q, r = divmod(b.Rf + (cur - x), b.k)
    b.Rw = b.Rw + q
    b.Rf = r
    set_tat(b, t, x)
  end
end

-- Charges `units` at t and returns what undoing it needs: the epoch, the refunded sum before,
-- the TAT after and the recent-charge window (-1 for none).
local function charge(b, t, units, window)
  local mark = { ep = b.ep, Rw = b.Rw, Rf = b.Rf, w = -1 }
  add(b, t, units)
  mark.T = b.T
  mark.f = b.f
  if roll(b, window) ~= nil then
    b.b = b.b + units
    mark.w = window
  end
  return mark
end

local function arrived(b, units, mark, window)
  if mark.w >= 0 and roll(b, window) ~= nil then
    local d = window - mark.w
    if d == 0 then
      b.b = math.max(0, b.b - units)
    elseif d == 1 then
      b.a = math.max(0, b.a - units)
    end
  end
end

local function refund_served(b, t, units, window)
  local recent = 0
  if roll(b, window) ~= nil then recent = b.a + b.b end
  local target = rel(b, t) - units * b.e
  local floor = recent * b.e
  if target < floor then target = floor end
  lower_to(b, t, target)
end

local function refund_unsent(b, t, units, mark, window)
  local decreased = (b.Rw - mark.Rw) * b.k + (b.Rf - mark.Rf)
  local left = (mark.T - t) * b.k + mark.f - decreased
  local amount = math.min(units * b.e, left)
  if amount > 0 then
    lower_to(b, t, rel(b, t) - amount)
  end
  arrived(b, units, mark, window)
end

local function used(b, t)
  return ceil_div(level(b, t), b.e)
end

-- Drops expired leases (their reservations are settled as kept), unless none can have
-- expired yet.
local function expire(st, now)
  if now < st.nx then return end
  redis.call('ZREMRANGEBYSCORE', LEASES, '-inf', now)
  local first = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
  if first[2] then st.nx = tonumber(first[2]) else st.nx = NEVER end
  set(st, 'nx', fmt(st.nx))
end

-- Units of unsettled reservations, per unit of a cost.
local function pending()
  local p = { 0, 0, 0, 0, 0 }
  for _, v in ipairs(redis.call('ZRANGE', LEASES, 0, -1)) do
    local j = 0
    for n in string.gmatch(v, '%d+') do
      if j >= 1 and j <= 5 then p[j] = p[j] + tonumber(n) end
      j = j + 1
    end
  end
  return p
end

local function window_of(t, margin)
  if margin <= 0 then return nil end
  return math.floor(t / margin)
end

-- Brings the stored quota in line with the quota string ARGV[base]: per dimension L, P, k, e
-- (L = 0 when unlimited), space-separated. A bucket whose rate changes keeps its units; a new
-- one starts with the pending units; a removed one is forgotten. The string last applied is
-- kept in 'q': the same string again (the usual case) costs one comparison.
local function sync_quota(st, now, base)
  local q = ARGV[base]
  if q == nil or q == st.q then return end
  local Q = {}
  for n in string.gmatch(q, '%d+') do Q[#Q + 1] = tonumber(n) end
  set(st, 'q', q)
  st.q = q
  local p = nil
  for i = 1, NDIMS do
    local o = 1 + (i - 1) * 4
    local L = Q[o] or 0
    local P = Q[o + 1]
    local k = Q[o + 2]
    local e = Q[o + 3]
    local b = st.b[i]
    if L == 0 then
      if b then
        st.b[i] = nil
        st.dirty = true
      end
    elseif not b or b.L ~= L or b.P ~= P or b.k ~= k or b.e ~= e then
      local keep = 0
      if b then
        keep = used(b, now)
      else
        if p == nil then p = pending() end
        keep = p[UNIT[i]]
      end
      st.epoch = st.epoch + 1
      set(st, 'epoch', fmt(st.epoch))
      local nb = { i = i, L = L, P = P, k = k, e = e, T = 0, f = 0, ep = st.epoch, Rw = 0,
        Rf = 0, w = 0, a = 0, b = 0 }
      if keep > 0 then
        nb.T = now
        add(nb, now, keep)
      end
      st.b[i] = nb
      touch(st)
    end
  end
end

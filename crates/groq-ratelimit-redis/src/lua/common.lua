-- Shared by every script of groq-ratelimit-redis. One model's state lives in three keys that
-- share a hash tag: KEYS[1] the state hash, KEYS[2] the lease sorted set (id -> expiry), and
-- KEYS[3] the lease costs hash (id -> "requests tokens").
--
-- Time is integer microseconds of Redis TIME. Each bucket is the GCRA of LocalLimiter in
-- scaled units: an instant t is t*k scaled units, one unit costs e, a full bucket is L*e. The
-- theoretical arrival time is kept as a pair (T, f) = T*k + f with 0 <= f < k, so that every
-- number stays below 2^53 and Lua's doubles compute exactly.

local S = KEYS[1]
local LEASES = KEYS[2]
local COSTS = KEYS[3]
local DIMS = { 'rpm', 'rpd', 'tpm', 'tpd' }

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

local function is_token(i)
  return i >= 3
end

-- Loads bucket i, or nil when the dimension is unlimited.
local function load(i)
  local d = DIMS[i]
  local v = redis.call('HMGET', S, d .. ':L', d .. ':P', d .. ':k', d .. ':e', d .. ':T', d .. ':f',
    d .. ':ep', d .. ':Rw', d .. ':Rf', d .. ':w', d .. ':a', d .. ':b')
  if not v[1] then return nil end
  return {
    i = i, L = tonumber(v[1]), P = tonumber(v[2]), k = tonumber(v[3]), e = tonumber(v[4]),
    T = tonumber(v[5]), f = tonumber(v[6]), ep = tonumber(v[7]), Rw = tonumber(v[8]),
    Rf = tonumber(v[9]), w = tonumber(v[10]), a = tonumber(v[11]), b = tonumber(v[12]),
  }
end

local function store(b)
  local d = DIMS[b.i]
  redis.call('HSET', S, d .. ':L', fmt(b.L), d .. ':P', fmt(b.P), d .. ':k', fmt(b.k),
    d .. ':e', fmt(b.e), d .. ':T', fmt(b.T), d .. ':f', fmt(b.f), d .. ':ep', fmt(b.ep),
    d .. ':Rw', fmt(b.Rw), d .. ':Rf', fmt(b.Rf), d .. ':w', fmt(b.w), d .. ':a', fmt(b.a),
    d .. ':b', fmt(b.b))
end

local function drop(i)
  local d = DIMS[i]
  redis.call('HDEL', S, d .. ':L', d .. ':P', d .. ':k', d .. ':e', d .. ':T', d .. ':f',
    d .. ':ep', d .. ':Rw', d .. ':Rf', d .. ':w', d .. ':a', d .. ':b')
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

-- Drops expired leases: their reservations are settled as kept.
local function expire(now)
  local gone = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now)
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', LEASES, '-inf', now)
    redis.call('HDEL', COSTS, unpack(gone))
  end
end

-- Units of unsettled reservations: requests, tokens.
local function pending()
  local r, tk = 0, 0
  for _, v in ipairs(redis.call('HVALS', COSTS)) do
    local a, c = string.match(v, '(%d+) (%d+)')
    r = r + tonumber(a)
    tk = tk + tonumber(c)
  end
  return r, tk
end

local function window_of(t, margin)
  if margin <= 0 then return nil end
  return math.floor(t / margin)
end

-- Brings the stored quota in line with ARGV[base..]: per dimension L, P, k, e (L = 0 when
-- unlimited). A bucket whose rate changes keeps its units; a new one starts with the pending
-- units; a removed one is forgotten.
local function sync_quota(now, base)
  for i = 1, 4 do
    local L = tonumber(ARGV[base + (i - 1) * 4])
    local P = tonumber(ARGV[base + (i - 1) * 4 + 1])
    local k = tonumber(ARGV[base + (i - 1) * 4 + 2])
    local e = tonumber(ARGV[base + (i - 1) * 4 + 3])
    local b = load(i)
    if L == 0 then
      if b then drop(i) end
    elseif not b or b.L ~= L or b.P ~= P or b.k ~= k or b.e ~= e then
      local keep = 0
      if b then
        keep = used(b, now)
      else
        local r, tk = pending()
        if is_token(i) then keep = tk else keep = r end
      end
      local ep = redis.call('HINCRBY', S, 'epoch', 1)
      local nb = { i = i, L = L, P = P, k = k, e = e, T = 0, f = 0, ep = ep, Rw = 0,
        Rf = 0, w = 0, a = 0, b = 0 }
      if keep > 0 then
        nb.T = now
        add(nb, now, keep)
      end
      store(nb)
    end
  end
end

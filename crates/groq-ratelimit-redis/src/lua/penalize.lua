-- penalize: ARGV = pause in microseconds from now, the dimension named ('' for none).
local now = now_us()
local untl = now + tonumber(ARGV[1])
local pen = tonumber(redis.call('HGET', S, 'pen') or '0')
if untl > pen then
  redis.call('HSET', S, 'pen', fmt(untl), 'pend', ARGV[2])
end
return fmt(now)

-- time: Redis TIME in microseconds.
return fmt(now_us())

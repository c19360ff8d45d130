-- wrk script for the floor servers: a plain GET, results in the line bench/serving.sh parses.
done = function(summary, latency, requests)
  io.write(string.format("MLINFRA_RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    summary.requests))
end

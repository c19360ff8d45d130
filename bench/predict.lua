-- wrk script: one 20-feature row per POST /predict (the body is fixed so every server
-- compared does the same parsing work).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"features": [0.49, -0.14, 0.65, 1.52, -0.23, -0.23, 1.58, 0.77, -0.47, 0.54, -0.46, -0.47, 0.24, -1.91, -1.72, -0.56, -1.01, 0.31, -0.91, -1.41]}'

-- Print latency percentiles in a line bench/serving.sh can parse.
done = function(summary, latency, requests)
  io.write(string.format("MLINFRA_RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    summary.requests))
end

-- wrk script for the floor servers: predict.lua's result line, but a plain GET without a body.
dofile("bench/predict.lua")
wrk.method = "GET"
wrk.body = nil
wrk.headers["Content-Type"] = nil

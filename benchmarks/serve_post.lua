-- wrk script for benchmarks/serve.py: POST the JSON body in $BODY_FILE to every request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = file:read("*a")
file:close()

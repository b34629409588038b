-- wrk script: POST the same transaction Bundle (BUNDLE_FILE) again and again; each POST
-- creates every resource of the Bundle anew (server-assigned ids).
local f = assert(io.open(os.getenv("BUNDLE_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/fhir+json"

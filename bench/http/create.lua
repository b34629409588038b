-- wrk script: POST one small Patient per request (single-resource create).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Prefer"] = "return=minimal"
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"resourceType":"Patient","identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"bench-%d-%d"}],' ..
    '"name":[{"family":"王","given":["伟"]}],"gender":"male","birthDate":"1980-01-%02d"}', math.random(1, 1e9), n, (n % 28) + 1)
  return wrk.format(nil, nil, nil, body)
end

-- wrk script: GET Patient/{id} for ids read from ids.txt (one id per line), round robin.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE") or "ids.txt") do ids[#ids + 1] = line end
local i = 0
request = function()
  i = i % #ids + 1
  return wrk.format("GET", wrk.path .. "/Patient/" .. ids[i])
end

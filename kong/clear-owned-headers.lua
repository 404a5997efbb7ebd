-- mtls-headers: clears every client-sent copy of the headers the filter owns, before the filter chain runs.
-- ngx_wasm_module cannot remove a request header (it hides it from the filter, and nginx still forwards it), so
-- the filter refuses any request that still carries one with 400 (kong/README.md). This runs first (Kong's
-- pre-function plugin, access phase) and deletes them from nginx's header list, which does reach the upstream.
-- Ownership as the filter reads it (src/core/config.rs `Config::owns`): any case, `_` read as `-`, every duplicate.
-- Keep `prefixes` and `names` in step with the filter configuration: its `strip_prefixes` (default "x-ssl"), every
-- header name it maps outside them (and `signature`, `signature-input` with `sign`), and the size budget's flag.
local prefixes = { "x-ssl" }
local names = { ["x-mtls-headers-dropped"] = true }

local headers = ngx.req.get_headers(0, true) -- 0: no limit on the count; true: names as the client sent them
for name in pairs(headers) do
  local n = string.gsub(string.lower(name), "_", "-")
  local owned = names[n] ~= nil
  for i = 1, #prefixes do
    if owned then break end
    owned = string.sub(n, 1, #prefixes[i]) == prefixes[i]
  end
  if owned then
    ngx.req.clear_header(name)
  end
end

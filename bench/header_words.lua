-- An experiment for the quality bench (./run bench --quality --lua bench/header_words.lua), not
-- part of the deploy: the words of a few headers as Bayes tokens, as SpamAssassin's Bayes reads
-- them. It wraps gen_stat_tokens of rspamd's own lua_stat module, which rspamd's statistics ask
-- for the tokens beside the text; rspamd 3.12 and 4.x read /etc/rspamd/lua.local.d/*.lua.
-- Measured in docs/quality.md.
local lua_stat = require "lua_stat"
local base_gen = lua_stat.gen_stat_tokens
local HEADERS = {
  { 'From', 'F' }, { 'Reply-To', 'R' }, { 'Return-Path', 'P' }, { 'Message-ID', 'M' },
  { 'X-Mailer', 'X' }, { 'User-Agent', 'U' }, { 'To', 'T' }, { 'Received', 'r' },
}
local LIMIT = 40
local RECEIVED = 3

local function keep(w)
  if #w < 2 or #w > 40 then return false end
  if w:match('^%d+$') then return false end
  if not w:find('%.') and w:find('%d') and w:find('%a') and #w >= 8 then return false end -- an id
  return true
end

lua_stat.gen_stat_tokens = function(cfg)
  local base = base_gen(cfg)
  return function(task)
    local res = base(task)
    local n = 0
    for _, spec in ipairs(HEADERS) do
      local name, tag = spec[1], spec[2]
      local values = task:get_header_full(name) or {}
      for j, h in ipairs(values) do
        if j > RECEIVED then break end
        local v = (h.decoded or h.value or ''):lower()
        for w in v:gmatch('[%w%.%-_@]+') do
          w = w:gsub('^[%.%-_]+', ''):gsub('[%.%-_]+$', '')
          if keep(w) then
            if n >= LIMIT then return res end
            res[#res + 1] = string.format('#w:%s:%s', tag, w)
            n = n + 1
          end
        end
      end
    end
    return res
  end
end

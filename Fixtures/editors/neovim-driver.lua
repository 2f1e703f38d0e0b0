-- Headless Neovim test: nvim --headless -u NONE -i NONE -c 'luafile neovim-driver.lua'
local report = { steps = {} }
local function write_report()
  local file = assert(io.open(os.getenv('IDPBUILD_REPORT'), 'w'))
  file:write(vim.fn.json_encode(report))
  file:close()
end
local function step(name) table.insert(report.steps, name) end

local function diagnostics()
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(found, {
      line = d.lnum, col = d.col, end_line = d.end_lnum, end_col = d.end_col, severity = d.severity,
      code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code), message = d.message,
    })
  end
  table.sort(found, function(a, b) return a.line < b.line end)
  return found
end

local function codes()
  local list = {}
  for _, d in ipairs(diagnostics()) do table.insert(list, d.code) end
  return table.concat(list, ',')
end

local ok, err = pcall(function()
  vim.cmd('filetype on')
  vim.opt.runtimepath:prepend(os.getenv('IDPBUILD_REPO') .. '/editors/neovim')
  require('idpbuild').setup({ cmd = { os.getenv('IDPBUILD_BINARY'), 'lsp' } })
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('IDPBUILD_FILE')))
  report.filetype = vim.bo.filetype
  step('opened')

  report.diagnostics_arrived = vim.wait(20000, function() return #vim.diagnostic.get(0) >= 2 end, 20)
  report.diagnostics = diagnostics()
  local client = vim.lsp.get_active_clients()[1]
  report.server_pid = client and client.rpc and client.rpc.pid
  report.client_name = client and client.name
  step('diagnostics')

  -- The quick fix, through the editor's own code-action command (the menu answered by the test).
  vim.api.nvim_win_set_cursor(0, { 2, 8 })
  report.code_action_titles = {}
  vim.ui.select = function(items, _, on_choice)
    for index, item in ipairs(items) do
      local action = item[2] or item.action or item
      table.insert(report.code_action_titles, action.title)
    end
    for index, item in ipairs(items) do
      local action = item[2] or item.action or item
      if action.title == 'Change to --chown' then return on_choice(item, index) end
    end
    on_choice(nil, nil)
  end
  vim.lsp.buf.code_action()
  vim.wait(20000, function() return vim.api.nvim_buf_get_lines(0, 1, 2, false)[1]:find('--chown=', 1, true) ~= nil end, 20)
  report.fixed_line = vim.api.nvim_buf_get_lines(0, 1, 2, false)[1]
  report.fix_cleared = vim.wait(20000, function() return codes() == 'JSONArgsRecommended' end, 20)
  report.codes_after_fix = codes()
  step('quickfix')

  -- Completion of an instruction being typed on a new line.
  vim.api.nvim_buf_set_lines(0, -1, -1, false, { 'RU' })
  local line = vim.api.nvim_buf_line_count(0) - 1
  local responses = vim.lsp.buf_request_sync(0, 'textDocument/completion',
    { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = line, character = 2 } }, 20000) or {}
  report.completion = {}
  for _, response in pairs(responses) do
    local result = response.result or {}
    for _, item in ipairs(result.items or result) do table.insert(report.completion, item.label) end
  end
  step('completion')

  local hovers = vim.lsp.buf_request_sync(0, 'textDocument/hover',
    { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 0, character = 1 } }, 20000) or {}
  for _, response in pairs(hovers) do
    report.hover = response.result and response.result.contents and response.result.contents.value
  end
  step('hover')

  -- File name detection (new buffers, not attached to anything else).
  report.detected = {}
  local folder = vim.fn.fnamemodify(os.getenv('IDPBUILD_FILE'), ':h')
  for _, name in ipairs({ 'Dockerfile', 'app.Dockerfile', 'Dockerfile.prod', 'Containerfile' }) do
    vim.cmd('edit ' .. vim.fn.fnameescape(folder .. '/detect/' .. name))
    report.detected[name] = vim.bo.filetype
    vim.cmd('bwipeout!')
  end
  step('detection')

  -- Stop the server the way Neovim does on exit, and wait for it to go.
  if client then
    client.stop()
    report.stopped = vim.wait(20000, function() return client.is_stopped() end, 20)
  end
  step('stopped')
end)
report.ok = ok
report.error = err and tostring(err) or nil
write_report()
vim.cmd('qa!')

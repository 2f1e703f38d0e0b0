-- Headless Neovim with editors/neovim's shared-server set-up: nvim --headless -u NONE -i NONE -c 'luafile neovim-shared.lua'
-- IDPBUILD_REPO, IDPBUILD_BINARY, IDPBUILD_SOCKET, IDPBUILD_FILE, IDPBUILD_REPORT come from the test.
local report = {}
local ok, err = pcall(function()
  vim.cmd('filetype on')
  vim.opt.runtimepath:prepend(os.getenv('IDPBUILD_REPO') .. '/editors/neovim')
  local shared = require('idpbuild.shared')
  local cmd = shared.cmd({ program = os.getenv('IDPBUILD_BINARY'), path = os.getenv('IDPBUILD_SOCKET') })
  report.transport = type(cmd) == 'function' and 'socket' or 'bridge'
  require('idpbuild').setup({ cmd = cmd })
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('IDPBUILD_FILE')))
  report.diagnostics_arrived = vim.wait(20000, function() return #vim.diagnostic.get(0) >= 2 end, 20)
  report.codes = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(report.codes, d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code))
  end
  table.sort(report.codes)
  local client = vim.lsp.get_active_clients()[1]
  report.client_name = client and client.name
  local status = client and client.request_sync('workspace/executeCommand', { command = 'idpbuild.serverStatus' }, 10000, 0)
  report.sessions = status and status.result and #status.result.sessions or -1
  if client then client.stop() end
  report.stopped = vim.wait(10000, function() return #vim.lsp.get_active_clients() == 0 end, 20)
end)
report.ok = ok
report.error = ok and nil or tostring(err)
local file = assert(io.open(os.getenv('IDPBUILD_REPORT'), 'w'))
file:write(vim.fn.json_encode(report))
file:close()
vim.cmd('qa!')

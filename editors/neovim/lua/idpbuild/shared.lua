-- Connect Neovim to the shared idpbuild server (editors/systemd: idpbuild.socket) instead of starting one per editor.
--
--   require('idpbuild').setup({ cmd = require('idpbuild.shared').cmd() })
--
-- Neovim 0.10+ connects to the unix socket itself (vim.lsp.rpc.connect with a path); 0.7–0.9 start the small
-- stdio bridge `idpbuild lsp --connect unix:PATH`. The socket is $XDG_RUNTIME_DIR/idpbuild/lsp.sock unless `path`
-- is given.
local M = {}

--- The socket's path.
function M.socket(path)
  if path then
    return path
  end
  local runtime = os.getenv('XDG_RUNTIME_DIR')
  assert(runtime and runtime ~= '', 'XDG_RUNTIME_DIR is not set: pass the socket path to cmd()')
  return runtime .. '/idpbuild/lsp.sock'
end

--- The `cmd` for the client: a connection on 0.10+, the bridge before. `opts.program` names idpbuild.
function M.cmd(opts)
  opts = opts or {}
  local path = M.socket(opts.path)
  if vim.fn.has('nvim-0.10') == 1 and vim.lsp.rpc and vim.lsp.rpc.connect and not opts.bridge then
    return vim.lsp.rpc.connect(path)
  end
  return { opts.program or 'idpbuild', 'lsp', '--connect', 'unix:' .. path }
end

return M

-- idpbuild language server for Dockerfiles, for Neovim 0.7 and later.
--
--   require('idpbuild').setup({
--     cmd = { 'idpbuild', 'lsp' },                      -- how to start the server
--     settings = { ignoredChecks = {}, buildArgs = {} }, -- see protocol/README.md "Settings"
--     on_attach = function(client, bufnr) end,          -- your key maps
--   })
--
-- Neovim 0.8+ starts (or reuses) the server with vim.lsp.start; 0.7 with vim.lsp.start_client, one client per
-- project root. Neovim 0.11+ users can instead copy editors/neovim/lsp/idpbuild.lua (see the README).
local M = {}

-- File names that are Dockerfiles (Neovim knows them too; listing them keeps older versions and odd names right).
M.patterns = { 'Dockerfile', '*.Dockerfile', 'Dockerfile.*', 'Containerfile', 'Containerfile.*', '*.dockerfile' }

local clients = {} -- Neovim 0.7: client id by root directory

local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = vim.fn.fnamemodify(name, ':p:h')
  local git = vim.fn.finddir('.git', dir .. ';')
  if git ~= '' then
    return vim.fn.fnamemodify(git, ':p:h:h')
  end
  return dir
end

--- The client configuration for a buffer.
function M.config(opts, bufnr)
  opts = opts or {}
  local settings = opts.settings or {}
  return {
    name = 'idpbuild',
    cmd = opts.cmd or { 'idpbuild', 'lsp' },
    root_dir = root_dir(bufnr),
    -- Sent as initializationOptions, and again as the `idpbuild` section of workspace/configuration
    -- (an empty Lua table would be sent as a JSON array, so none is sent then).
    init_options = next(settings) and settings or nil,
    settings = { idpbuild = settings },
    on_attach = opts.on_attach,
    capabilities = opts.capabilities,
    handlers = opts.handlers,
  }
end

--- Starts or reuses the server for a buffer.
function M.attach(bufnr, opts)
  local config = M.config(opts, bufnr)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = clients[config.root_dir]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client(config)
    clients[config.root_dir] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

--- Detects Dockerfiles and attaches the server to each.
function M.setup(opts)
  local group = vim.api.nvim_create_augroup('idpbuild', { clear = true })
  vim.api.nvim_create_autocmd({ 'BufRead', 'BufNewFile' }, {
    group = group,
    pattern = M.patterns,
    callback = function(args)
      vim.bo[args.buf].filetype = 'dockerfile'
    end,
  })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = 'dockerfile',
    callback = function(args)
      M.attach(args.buf, opts)
    end,
  })
end

return M

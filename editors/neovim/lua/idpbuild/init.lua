-- idpbuild language server for Dockerfiles, for Neovim 0.7 and later.
--
--   require('idpbuild').setup({
--     cmd = { 'idpbuild', 'lsp' },                      -- how to start the server
--     settings = { ignoredChecks = {}, buildArgs = {} }, -- see protocol/README.md "Settings"
--     on_attach = function(client, bufnr) end,          -- your key maps
--     keys = true,                                      -- <leader>bp build and push, <leader>bb build, <leader>bc cancel, <leader>bl run the lens
--     codelens = true,                                  -- show and refresh the build lenses
--     progress = true,                                  -- show build progress in the command line
--   })
--
-- Neovim 0.8+ starts (or reuses) the server with vim.lsp.start; 0.7 with vim.lsp.start_client, one client per
-- project root. Neovim 0.11+ users can instead copy editors/neovim/lsp/idpbuild.lua (see the README).
--
-- Builds: :IdpbuildBuildAndPush, :IdpbuildBuild, :IdpbuildCancel, :IdpbuildLog (the build output), or
-- vim.lsp.codelens.run() on the FROM line. Progress shows in the command line; the outcome as a notification.
local M = {}

M.log_lines = {}     -- the build output (window/logMessage), newest last, at most 5000 lines
M.last_result = nil  -- the last build's BuildResponse
M.hooks = {}         -- on_progress(token, value), on_result(result, err): for tests and status lines

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

-- Build progress in the command line: "idpbuild: Build and push REF — step 3/4: RUN … (40%)".
local function show_progress(result)
  local value = result and result.value
  if type(value) ~= 'table' or not value.kind then return end
  if M.hooks.on_progress then M.hooks.on_progress(result.token, value) end
  if not M.options.progress then return end
  if value.kind == 'begin' then
    M.titles = M.titles or {}
    M.titles[result.token] = value.title
  end
  local title = (M.titles or {})[result.token] or 'idpbuild'
  local text = title
  if value.message then text = text .. ' — ' .. value.message end
  if value.percentage then text = text .. string.format(' (%d%%)', value.percentage) end
  vim.api.nvim_echo({ { 'idpbuild: ' .. text:gsub('\n.*', '') } }, false, {})
  if M.options.codelens ~= false and vim.lsp.codelens then
    pcall(vim.lsp.codelens.refresh)
  end
end

local function handlers(opts)
  local own = vim.tbl_extend('force', {}, opts.handlers or {})
  own['$/progress'] = function(err, result, ctx, config)
    local default = vim.lsp.handlers['$/progress']
    local answer = default and default(err, result, ctx, config)
    show_progress(result)
    return answer
  end
  own['window/logMessage'] = function(err, result, ctx, config)
    for line in ((result and result.message) or ''):gmatch('[^\n]+') do
      table.insert(M.log_lines, line)
    end
    while #M.log_lines > 5000 do table.remove(M.log_lines, 1) end
    return vim.lsp.handlers['window/logMessage'](err, result, ctx, config)
  end
  return own
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
    on_attach = function(client, buffer)
      if opts.keys then M.keymaps(buffer) end
      if opts.codelens ~= false and vim.lsp.codelens then
        vim.api.nvim_create_autocmd({ 'BufEnter', 'CursorHold', 'InsertLeave' }, {
          buffer = buffer,
          callback = function() pcall(vim.lsp.codelens.refresh) end,
        })
        pcall(vim.lsp.codelens.refresh)
      end
      if opts.on_attach then opts.on_attach(client, buffer) end
    end,
    capabilities = opts.capabilities,
    handlers = handlers(opts),
  }
end

local function idpbuild_client(bufnr)
  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr }) or vim.lsp.buf_get_clients(bufnr)
  for _, client in pairs(clients) do
    if client.name == 'idpbuild' then return client end
  end
  return nil
end

local tokens = 0

--- Runs a build command for the buffer (`idpbuild.buildAndPush` or `idpbuild.build`) with a progress token;
--- `argument` adds fields to {uri = …} (imageName, imageTag, target, buildArgs, …: protocol/README.md "Commands").
function M.execute(command, argument, bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = idpbuild_client(bufnr)
  if not client then
    vim.notify('idpbuild: no idpbuild language server for this buffer', vim.log.levels.WARN)
    return
  end
  local arguments = vim.tbl_extend('force', { uri = vim.uri_from_bufnr(bufnr) }, argument or {})
  tokens = tokens + 1
  local params = { command = command, arguments = { arguments } }
  if command ~= 'idpbuild.cancelBuild' then
    params.workDoneToken = string.format('idpbuild-nvim-%d-%d', vim.fn.getpid(), tokens)
  else
    params.arguments = { arguments.uri }
  end
  client.request('workspace/executeCommand', params, function(err, result)
    if command ~= 'idpbuild.cancelBuild' then
      M.last_result = result
      if M.hooks.on_result then M.hooks.on_result(result, err) end
    end
    if err then
      vim.notify('idpbuild: ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
    end
    if vim.lsp.codelens then pcall(vim.lsp.codelens.refresh) end
  end, bufnr)
end

--- Builds and pushes the current buffer's Dockerfile (what the buffer shows, saved or not).
function M.build_and_push(argument) M.execute('idpbuild.buildAndPush', argument) end
--- Builds the current buffer's Dockerfile into the local store.
function M.build(argument) M.execute('idpbuild.build', argument) end
--- Cancels the current buffer's build.
function M.cancel() M.execute('idpbuild.cancelBuild') end

--- Shows the build output in a scratch buffer.
function M.show_log()
  vim.cmd('botright new')
  local buffer = vim.api.nvim_get_current_buf()
  vim.bo[buffer].buftype = 'nofile'
  vim.bo[buffer].bufhidden = 'wipe'
  vim.api.nvim_buf_set_name(buffer, 'idpbuild build log')
  vim.api.nvim_buf_set_lines(buffer, 0, -1, false, M.log_lines)
end

--- The suggested key maps, for one buffer.
function M.keymaps(bufnr)
  local map = function(keys, fn, desc) vim.keymap.set('n', keys, fn, { buffer = bufnr, desc = desc }) end
  map('<leader>bp', M.build_and_push, 'idpbuild: build and push')
  map('<leader>bb', M.build, 'idpbuild: build')
  map('<leader>bc', M.cancel, 'idpbuild: cancel the build')
  map('<leader>bl', vim.lsp.codelens.run, 'idpbuild: run the code lens on this line')
end

-- The lenses run the same commands (with a progress token and the result shown) instead of a bare request.
for _, name in ipairs({ 'idpbuild.buildAndPush', 'idpbuild.build' }) do
  vim.lsp.commands[name] = function(command, ctx)
    local argument = (command.arguments or {})[1] or {}
    argument.uri = nil
    M.execute(name, argument, ctx.bufnr)
  end
end
vim.lsp.commands['idpbuild.cancelBuild'] = function(_, ctx) M.execute('idpbuild.cancelBuild', nil, ctx.bufnr) end

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

M.options = { progress = true, codelens = true }

--- Detects Dockerfiles and attaches the server to each.
function M.setup(opts)
  opts = opts or {}
  M.options = vim.tbl_extend('force', { progress = true, codelens = true }, opts)
  vim.api.nvim_create_user_command('IdpbuildBuildAndPush', function() M.build_and_push() end, { desc = 'idpbuild: build and push' })
  vim.api.nvim_create_user_command('IdpbuildBuild', function() M.build() end, { desc = 'idpbuild: build' })
  vim.api.nvim_create_user_command('IdpbuildCancel', function() M.cancel() end, { desc = 'idpbuild: cancel the build' })
  vim.api.nvim_create_user_command('IdpbuildLog', function() M.show_log() end, { desc = 'idpbuild: the build output' })
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

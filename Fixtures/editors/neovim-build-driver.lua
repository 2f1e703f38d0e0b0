-- Headless Neovim build test: nvim --headless -u NONE -i NONE -c 'luafile neovim-build-driver.lua'
-- Runs "Build and push" through the code lens on FROM (vim.lsp.codelens.run, the menu answered by the test), records
-- the progress the plugin shows and the result, then builds a Dockerfile whose RUN fails and records the diagnostics.
local report = { steps = {}, progress = {} }
local function write_report()
  local file = assert(io.open(os.getenv('IDPBUILD_REPORT'), 'w'))
  file:write(vim.fn.json_encode(report))
  file:close()
end
local function step(name) table.insert(report.steps, name) end

local ok, err = pcall(function()
  vim.cmd('filetype on')
  vim.opt.runtimepath:prepend(os.getenv('IDPBUILD_REPO') .. '/editors/neovim')
  local idpbuild = require('idpbuild')
  idpbuild.setup({
    cmd = { os.getenv('IDPBUILD_BINARY'), 'lsp', '--registries-conf', os.getenv('IDPBUILD_REGISTRIES_CONF'),
            '--root', os.getenv('IDPBUILD_STORE'), '--no-kubernetes' },
    settings = { registry = os.getenv('IDPBUILD_REGISTRY'), insecureRegistries = { os.getenv('IDPBUILD_REGISTRY') } },
    keys = true,
  })
  idpbuild.hooks.on_progress = function(token, value)
    table.insert(report.progress, { token = token, kind = value.kind, title = value.title, message = value.message,
                                    percentage = value.percentage })
  end
  local results = {}
  idpbuild.hooks.on_result = function(result, e) table.insert(results, { result = result, error = e }) end

  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('IDPBUILD_FILE')))
  local attached = vim.wait(20000, function()
    local clients = vim.lsp.buf_get_clients(0)
    return next(clients) ~= nil and #vim.lsp.codelens.get(0) >= 2
  end, 20)
  report.lenses = {}
  for _, lens in ipairs(vim.lsp.codelens.get(0)) do table.insert(report.lenses, lens.command and lens.command.title) end
  local client = vim.lsp.get_active_clients()[1]
  report.server_pid = client and client.rpc and client.rpc.pid
  report.attached = attached
  step('lenses')

  -- "Build and push" from the lens on the FROM line: two lenses there, so Neovim asks which one.
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.ui.select = function(items, options, on_choice)
    for index, item in ipairs(items) do
      local title = options.format_item and options.format_item(item) or tostring(item)
      if title:find('^Build and push') then return on_choice(item, index) end
    end
    on_choice(nil, nil)
  end
  vim.lsp.codelens.run()
  report.pushed = vim.wait(120000, function() return #results >= 1 end, 20)
  report.push_result = results[1] and results[1].result
  report.echo = vim.fn.execute('messages')
  step('build and push')

  -- The failing RUN, built with the key map <leader>bb (build only).
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('IDPBUILD_FAILING')))
  vim.wait(20000, function() return next(vim.lsp.buf_get_clients(0)) ~= nil end, 20)
  vim.g.mapleader = '\\'
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('\\bb', true, false, true), 'x', false)
  report.failed = vim.wait(120000, function() return #results >= 2 end, 20)
  report.failed_result = results[2] and results[2].result
  report.build_diagnostics = {}
  vim.wait(20000, function()
    for _, d in ipairs(vim.diagnostic.get(0)) do
      if d.source == 'idpbuild build' then return true end
    end
    return false
  end, 20)
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(report.build_diagnostics, { line = d.lnum, severity = d.severity, source = d.source, message = d.message })
  end
  report.log_has_output = false
  for _, line in ipairs(idpbuild.log_lines) do
    if line:find('about to fail', 1, true) then report.log_has_output = true end
  end
  step('failing build')

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

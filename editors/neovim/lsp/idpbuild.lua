-- Neovim 0.11+: copy this file to ~/.config/nvim/lsp/idpbuild.lua and call vim.lsp.enable('idpbuild').
-- Settings: protocol/README.md "Settings".
return {
  cmd = { 'idpbuild', 'lsp' },
  filetypes = { 'dockerfile' },
  root_markers = { '.git', 'Dockerfile', 'Containerfile' },
  settings = {
    idpbuild = {
      registry = 'gitea.cnoe.localtest.me:8443',
      namespace = 'giteaadmin',
      ignoredChecks = {},
      buildArgs = {},
    },
  },
}

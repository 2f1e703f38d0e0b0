;;; idpbuild.el --- The idpbuild Dockerfile language server for Eglot and lsp-mode  -*- lexical-binding: t; -*-

;; Load this file (or put it on `load-path' and `require' it) to:
;; - open Dockerfile, *.Dockerfile, Dockerfile.* and Containerfile in `dockerfile-mode' (when installed) or in the
;;   small `idpbuild-dockerfile-mode' below;
;; - start `idpbuild lsp' for them with Eglot (M-x eglot, or `eglot-ensure' from the mode hook) or lsp-mode.
;; Settings are described in protocol/README.md ("Settings").

;;; Code:

(defvar eglot-server-programs)
(defvar lsp-language-id-configuration)
(declare-function lsp-register-client "lsp-mode")
(declare-function make-lsp-client "lsp-mode")
(declare-function lsp-stdio-connection "lsp-mode")
(declare-function lsp-activate-on "lsp-mode")

(defgroup idpbuild nil
  "The idpbuild Dockerfile language server."
  :group 'tools)

(defcustom idpbuild-program '("idpbuild" "lsp")
  "The command that starts the language server."
  :type '(repeat string))

(defcustom idpbuild-settings nil
  "Settings sent as initializationOptions.
For example (:ignoredChecks [\"JSONArgsRecommended\"]).  With Eglot,
`eglot-workspace-configuration' (section :idpbuild) can change them later."
  :type 'plist)

(defvar idpbuild-dockerfile-font-lock-keywords
  `((,(concat "^[ \t]*\\(?:ONBUILD[ \t]+\\)?"
              (regexp-opt '("ADD" "ARG" "CMD" "COPY" "ENTRYPOINT" "ENV" "EXPOSE" "FROM" "HEALTHCHECK" "LABEL"
                            "MAINTAINER" "ONBUILD" "RUN" "SHELL" "STOPSIGNAL" "USER" "VOLUME" "WORKDIR")
                          'words))
     . font-lock-keyword-face)
    ("\\$\\(?:{[A-Za-z_][A-Za-z0-9_]*\\|[A-Za-z_][A-Za-z0-9_]*\\)" . font-lock-variable-name-face))
  "Highlighting for `idpbuild-dockerfile-mode'.")

(define-derived-mode idpbuild-dockerfile-mode prog-mode "Dockerfile"
  "A small major mode for Dockerfiles.
Used when `dockerfile-mode' is not installed."
  (modify-syntax-entry ?# "<" idpbuild-dockerfile-mode-syntax-table)
  (modify-syntax-entry ?\n ">" idpbuild-dockerfile-mode-syntax-table)
  (modify-syntax-entry ?' "\"" idpbuild-dockerfile-mode-syntax-table)
  (setq-local comment-start "# ")
  (setq-local comment-start-skip "#+[ \t]*")
  (setq-local font-lock-defaults '(idpbuild-dockerfile-font-lock-keywords nil t)))

(defun idpbuild--major-mode ()
  "The mode for Dockerfiles: `dockerfile-mode' when available."
  (if (fboundp 'dockerfile-mode) 'dockerfile-mode 'idpbuild-dockerfile-mode))

(dolist (pattern '("/Dockerfile\\'" "\\.Dockerfile\\'" "/Dockerfile\\.[^/]*\\'" "/Containerfile\\'"
                   "/Containerfile\\.[^/]*\\'"))
  (add-to-list 'auto-mode-alist (cons pattern (idpbuild--major-mode))))

(defconst idpbuild--modes
  '((dockerfile-mode :language-id "dockerfile")
    (dockerfile-ts-mode :language-id "dockerfile")
    (idpbuild-dockerfile-mode :language-id "dockerfile"))
  "The major modes the server manages, with the language id Eglot sends.")

(with-eval-after-load 'eglot
  ;; Ahead of Eglot's own entry for dockerfile-mode (docker-langserver).
  (add-to-list 'eglot-server-programs
               (cons idpbuild--modes
                     (lambda (&rest _) (append idpbuild-program
                                               (and idpbuild-settings
                                                    (list :initializationOptions idpbuild-settings)))))))

(with-eval-after-load 'lsp-mode
  (add-to-list 'lsp-language-id-configuration '(idpbuild-dockerfile-mode . "dockerfile"))
  (lsp-register-client
   (make-lsp-client :new-connection (lsp-stdio-connection (lambda () idpbuild-program))
                    :activation-fn (lsp-activate-on "dockerfile")
                    :initialization-options (lambda () idpbuild-settings)
                    :priority 1  ; ahead of lsp-dockerfile's dockerfile-ls
                    :server-id 'idpbuild)))

(provide 'idpbuild)
;;; idpbuild.el ends here
